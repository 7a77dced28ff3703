-- Schema version 2: message filters and autoreplies (LMTP delivery rules).
SELECT 1;
