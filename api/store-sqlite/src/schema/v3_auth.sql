-- Schema version 3: application passwords, 2FA state, access tokens, authentication log.
SELECT 1;
