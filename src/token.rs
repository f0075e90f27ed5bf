//! The one holder of the access token: the token requests carry now, the callback
//! that gives a new one when Graph refuses it, and every token ever held, so that
//! none of them appears in a line that leaves the library.

use std::fmt;
use std::sync::{Mutex, RwLock};

/// Asked for a new access token when Graph refuses the current one (code 190) in the
/// middle of an upload; `None` means there is none, and the upload stops.
pub type TokenRefresh = std::sync::Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Tokens shorter than this are not searched for in lines (a one-letter test token
/// would garble every line); real tokens are well over a hundred characters.
const SHORTEST_REDACTED: usize = 8;

/// True for a token that can go into a header as Graph gave it: one or more printable
/// ASCII characters, no space.
pub(crate) fn well_formed(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

/// The token of a plan, shared by every session made from it: a refresh by one is the
/// token the others send next.
pub(crate) struct Token {
    current: RwLock<String>,
    refresh: Option<TokenRefresh>,
    /// Every token held so far (the first and each refreshed one).
    known: Mutex<Vec<String>>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("current", &"<redacted>")
            .field("refresh", &self.refresh.is_some())
            .finish()
    }
}

impl Token {
    /// Holds `token`, with `refresh` to ask for a new one.
    pub fn new(token: &str, refresh: Option<TokenRefresh>) -> Token {
        let t = Token {
            current: RwLock::new(token.to_string()),
            refresh,
            known: Mutex::new(Vec::new()),
        };
        t.remember(token);
        t
    }

    /// The `Authorization` header's value for the token held now.
    pub fn authorization(&self) -> String {
        let t = self.current.read().unwrap_or_else(|e| e.into_inner());
        format!("OAuth {t}")
    }

    /// True when a callback can give a new token.
    pub fn can_refresh(&self) -> bool {
        self.refresh.is_some()
    }

    /// Asks the callback for a new token and holds it; false when there is no
    /// callback or it gave nothing usable (empty, spaces, control characters).
    pub fn refresh(&self) -> bool {
        let Some(refresh) = &self.refresh else {
            return false;
        };
        match refresh() {
            Some(token) if well_formed(&token) => {
                self.remember(&token);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = token;
                true
            }
            _ => false,
        }
    }

    fn remember(&self, token: &str) {
        if token.len() >= SHORTEST_REDACTED {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            if !known.iter().any(|t| t == token) {
                known.push(token.to_string());
            }
        }
    }

    /// `line` with every token ever held replaced by `<token>`, and so is any run of
    /// [`PREFIX_BLOTTED`] characters or more that begins a token: what is left of one
    /// when a long text was cut short before it reached here.
    pub fn redact(&self, line: String) -> String {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let mut line = line;
        for t in known.iter() {
            if line.contains(t.as_str()) {
                line = line.replace(t.as_str(), "<token>");
            }
            line = blot_prefixes(line, t);
        }
        line
    }
}

/// The shortest start of a token that is blotted where the rest of it was cut away.
const PREFIX_BLOTTED: usize = 12;

/// `line` with every run that matches the first [`PREFIX_BLOTTED`] or more bytes of
/// `token` replaced by `<token>`.
fn blot_prefixes(line: String, token: &str) -> String {
    let Some(head) = token.get(..PREFIX_BLOTTED) else {
        return line;
    };
    if !line.contains(head) {
        return line;
    }
    let (t, l) = (token.as_bytes(), line.as_bytes());
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while let Some(found) = line[i..].find(head) {
        let start = i + found;
        let run = t
            .iter()
            .zip(&l[start..])
            .take_while(|(a, b)| a == b)
            .count();
        out.push_str(&line[i..start]);
        out.push_str("<token>");
        // A token is ASCII: the run ends on a character boundary.
        i = start + run;
    }
    out.push_str(&line[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_refresh_is_held_and_every_token_is_blotted() {
        let t = Token::new(
            "EAAfirst-token",
            Some(Arc::new(|| Some("EAAsecond-token".into()))),
        );
        assert_eq!(t.authorization(), "OAuth EAAfirst-token");
        assert!(t.refresh());
        assert_eq!(t.authorization(), "OAuth EAAsecond-token");
        assert_eq!(
            t.redact("EAAfirst-token then EAAsecond-token".into()),
            "<token> then <token>"
        );
    }

    #[test]
    fn what_a_cut_leaves_of_a_token_is_blotted_too() {
        let token = "EAAsecret0123456789abcdefghijklmnopqrstuvwxyz";
        let t = Token::new(token, None);
        for cut in [12, 30, 44] {
            let line = format!("Malformed access token {}...", &token[..cut]);
            let shown = t.redact(line);
            assert_eq!(shown, "Malformed access token <token>...", "{cut}");
        }
        // Shorter than a prefix worth blotting, or no token at all: unchanged.
        let line = format!("x {} y", &token[..11]);
        assert_eq!(t.redact(line.clone()), line);
        assert_eq!(t.redact("EAAsecret".into()), "EAAsecret");
    }

    #[test]
    fn no_callback_or_a_bad_token_is_no_refresh() {
        assert!(!Token::new("EAAfirst-token", None).refresh());
        let t = Token::new("EAAfirst-token", Some(Arc::new(|| Some("a b".into()))));
        assert!(!t.refresh());
        assert_eq!(t.authorization(), "OAuth EAAfirst-token");
        let short = Token::new("t", None);
        assert_eq!(short.redact("t".into()), "t", "too short to search for");
    }
}
