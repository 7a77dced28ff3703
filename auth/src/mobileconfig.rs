//! Apple configuration profiles (`.mobileconfig`) that set up a mail account with an
//! application-specific password, with the same payload WildDuck generates: one
//! `com.apple.mail.managed` payload (IMAP or POP3 incoming, SMTP outgoing). The
//! profile is an unsigned XML property list; clients install unsigned profiles
//! after a warning.

use rand::RngCore;

/// `[api.mobileconfig]`: texts may use `{email}` and `{name}`.
#[derive(Debug, Clone)]
pub struct ProfileSettings {
    /// Reverse-DNS identifier; the user id is appended.
    pub identifier: String,
    pub display_name: String,
    pub organization: String,
    pub display_description: String,
    pub account_description: String,
}

impl Default for ProfileSettings {
    fn default() -> Self {
        Self {
            identifier: "com.eider.mail".into(),
            display_name: "Eider Mail".into(),
            organization: "Eider Mail Server".into(),
            display_description: "Install this profile to setup {email}".into(),
            account_description: "Eider ({email})".into(),
        }
    }
}

/// A server as clients should reach it.
#[derive(Debug, Clone)]
pub struct MailServer {
    pub host: String,
    pub port: u16,
    /// Implicit TLS.
    pub secure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncomingKind {
    Imap,
    Pop3,
}

/// The account one profile configures.
#[derive(Debug, Clone)]
pub struct ProfileAccount {
    pub user_id: String,
    pub name: String,
    pub address: String,
    pub password: String,
    /// The ASP's description; shown as the profile's name when given.
    pub description: Option<String>,
    pub incoming_kind: IncomingKind,
    pub incoming: MailServer,
    pub outgoing: MailServer,
}

fn uuid() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

enum V<'a> {
    S(&'a str),
    I(u16),
    B(bool),
}

fn dict(out: &mut String, indent: &str, entries: &[(&str, V<'_>)]) {
    for (k, v) in entries {
        out.push_str(&format!("{indent}<key>{}</key>\n", escape(k)));
        match v {
            V::S(s) => out.push_str(&format!("{indent}<string>{}</string>\n", escape(s))),
            V::I(i) => out.push_str(&format!("{indent}<integer>{i}</integer>\n")),
            V::B(b) => out.push_str(&format!(
                "{indent}<{}/>\n",
                if *b { "true" } else { "false" }
            )),
        }
    }
}

/// Render the profile (XML property list bytes).
pub fn mobileconfig(settings: &ProfileSettings, account: &ProfileAccount) -> Vec<u8> {
    let fill = |t: &str| {
        t.replace("{email}", &account.address)
            .replace("{name}", &account.name)
            .trim()
            .to_string()
    };
    let identifier = format!("{}.{}", fill(&settings.identifier), account.user_id);
    let organization = match fill(&settings.organization) {
        o if o.is_empty() => "Eider Mail Server".to_string(),
        o => o,
    };
    let display_name = account
        .description
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| fill(&settings.display_name));
    let account_type = match account.incoming_kind {
        IncomingKind::Imap => "EmailTypeIMAP",
        IncomingKind::Pop3 => "EmailTypePOP",
    };
    let (outer_uuid, inner_uuid) = (uuid(), uuid());

    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n",
    );
    x.push_str("\t<key>PayloadContent</key>\n\t<array>\n\t\t<dict>\n");
    dict(
        &mut x,
        "\t\t\t",
        &[
            ("PayloadType", V::S("com.apple.mail.managed")),
            ("PayloadVersion", V::I(1)),
            ("PayloadIdentifier", V::S(&identifier)),
            ("PayloadUUID", V::S(&inner_uuid)),
            ("PayloadDisplayName", V::S("Email Account")),
            ("PayloadDescription", V::S("Configures email account")),
            ("PayloadOrganization", V::S(&organization)),
            (
                "EmailAccountDescription",
                V::S(&fill(&settings.account_description)),
            ),
            ("EmailAccountName", V::S(&account.name)),
            ("EmailAccountType", V::S(account_type)),
            ("EmailAddress", V::S(&account.address)),
            (
                "IncomingMailServerAuthentication",
                V::S("EmailAuthPassword"),
            ),
            ("IncomingMailServerHostName", V::S(&account.incoming.host)),
            ("IncomingMailServerPortNumber", V::I(account.incoming.port)),
            ("IncomingMailServerUseSSL", V::B(account.incoming.secure)),
            ("IncomingMailServerUsername", V::S(&account.address)),
            ("IncomingPassword", V::S(&account.password)),
            ("OutgoingPasswordSameAsIncomingPassword", V::B(true)),
            (
                "OutgoingMailServerAuthentication",
                V::S("EmailAuthPassword"),
            ),
            ("OutgoingMailServerHostName", V::S(&account.outgoing.host)),
            ("OutgoingMailServerPortNumber", V::I(account.outgoing.port)),
            ("OutgoingMailServerUseSSL", V::B(account.outgoing.secure)),
            ("OutgoingMailServerUsername", V::S(&account.address)),
            ("PreventMove", V::B(false)),
            ("PreventAppSheet", V::B(false)),
            ("SMIMEEnabled", V::B(false)),
            ("allowMailDrop", V::B(true)),
        ],
    );
    x.push_str("\t\t</dict>\n\t</array>\n");
    dict(
        &mut x,
        "\t",
        &[
            ("PayloadType", V::S("Configuration")),
            ("PayloadVersion", V::I(1)),
            ("PayloadIdentifier", V::S(&identifier)),
            ("PayloadUUID", V::S(&outer_uuid)),
            ("PayloadDisplayName", V::S(&display_name)),
            (
                "PayloadDescription",
                V::S(&fill(&settings.display_description)),
            ),
            ("PayloadOrganization", V::S(&organization)),
        ],
    );
    x.push_str("</dict>\n</plist>\n");
    x.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_the_servers() {
        let account = ProfileAccount {
            user_id: "507f1f77bcf86cd799439011".into(),
            name: "John <Doe>".into(),
            address: "john@example.com".into(),
            password: "abcdefghijklmnop".into(),
            description: None,
            incoming_kind: IncomingKind::Pop3,
            incoming: MailServer {
                host: "pop.example.com".into(),
                port: 995,
                secure: true,
            },
            outgoing: MailServer {
                host: "smtp.example.com".into(),
                port: 587,
                secure: false,
            },
        };
        let xml =
            String::from_utf8(mobileconfig(&ProfileSettings::default(), &account)).expect("utf-8");
        assert!(xml.contains("<string>EmailTypePOP</string>"));
        assert!(xml.contains("<string>pop.example.com</string>"));
        assert!(xml.contains("<integer>995</integer>"));
        assert!(xml.contains("<string>smtp.example.com</string>"));
        assert!(xml.contains("John &lt;Doe&gt;"));
        assert!(xml.contains("Install this profile to setup john@example.com"));
        assert!(xml.contains("com.eider.mail.507f1f77bcf86cd799439011"));
        assert_eq!(uuid().len(), 36);
    }
}
