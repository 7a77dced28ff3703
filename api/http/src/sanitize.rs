//! HTML from messages is untrusted: scripts, event handlers, forms, frames and
//! javascript: URLs go; the markup mail needs for layout stays.

use std::collections::HashSet;

/// Sanitize one html body for display.
pub fn sanitize_html(html: &str) -> String {
    let mut builder = ammonia::Builder::default();
    let mut schemes: HashSet<&str> = ["http", "https", "mailto", "tel", "cid"]
        .into_iter()
        .collect();
    // Links rewritten to attachment downloads are relative; keep them.
    schemes.insert("attachment");
    builder
        .url_schemes(schemes)
        .add_generic_attributes([
            "align", "valign", "bgcolor", "width", "height", "border", "color",
        ])
        .add_tag_attributes("td", ["colspan", "rowspan", "nowrap"])
        .add_tag_attributes("th", ["colspan", "rowspan", "nowrap"])
        .add_tag_attributes("table", ["cellpadding", "cellspacing"])
        .add_tag_attributes("font", ["face", "size"])
        .add_tags(["font", "center"])
        .link_rel(Some("noopener noreferrer"));
    builder.clean(html).to_string()
}

/// Plain text from html, for messages composed with only an html body.
pub fn html_to_text(html: &str) -> String {
    let cleaned = ammonia::Builder::empty().clean(html).to_string();
    let mut text = cleaned
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text = text
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_markup_goes() {
        let dirty = r#"<p onclick="x()">Hi <b>there</b><script>alert(1)</script>
            <a href="javascript:alert(1)">bad</a><a href="https://example.com">good</a>
            <img src="cid:logo@x"><iframe src="https://evil"></iframe><form><input></form>
            <table cellpadding="2"><tr><td colspan="2">cell</td></tr></table></p>"#;
        let clean = sanitize_html(dirty);
        assert!(!clean.contains("script"));
        assert!(!clean.contains("onclick"));
        assert!(!clean.contains("javascript"));
        assert!(!clean.contains("iframe"));
        assert!(!clean.contains("<form"));
        assert!(clean.contains("<b>there</b>"));
        assert!(clean.contains("https://example.com"));
        assert!(clean.contains("cid:logo@x"));
        assert!(clean.contains("colspan=\"2\""));
    }

    #[test]
    fn text_from_html() {
        assert_eq!(
            html_to_text("<p>Hello <b>world</b> &amp; all</p>"),
            "Hello world & all"
        );
    }
}
