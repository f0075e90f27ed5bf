//! The trace: lines that show what fbup asked Graph, what Graph answered and what fbup
//! decided, handed to the caller's log function on the thread running the call. With
//! no log function, nothing is formatted.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::token::Token;

/// How much a trace line matters; a log level lets through its own lines and those
/// that matter more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum Level {
    /// The call fails: why, as the error says it.
    Error = 1,
    /// Something failed and fbup recovers: a retry, a session replaced, a lost handle.
    Warning = 2,
    /// One line per HTTP request, one per answer, one per decision (the default).
    Info = 3,
    /// Adds connection events: connect, TLS handshake, reuse, shutdown on cancel.
    Debug = 4,
}

impl Level {
    /// The level numbered `n` (1 error .. 4 debug); 0 is the default, [`Level::Info`].
    pub fn from_number(n: i32) -> Option<Level> {
        match n {
            0 => Some(Level::Info),
            1 => Some(Level::Error),
            2 => Some(Level::Warning),
            3 => Some(Level::Info),
            4 => Some(Level::Debug),
            _ => None,
        }
    }

    /// The level's name in lower case: `error`, `warning`, `info`, `debug`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Receives trace lines (see [`Config::log`](crate::Config::log)). Called
/// synchronously on the thread running the fbup call, never after it returns; it
/// should return quickly.
pub type LogFn = Arc<dyn Fn(Level, &str) + Send + Sync>;

struct Inner {
    sink: LogFn,
    level: Level,
    /// The plan's token holder: no token it ever held may appear in a line.
    token: Arc<Token>,
    /// Connections opened so far, to tell a reused one from a new one.
    connects: AtomicU64,
}

/// Where a session's trace lines go; cheap to clone, free when there is no sink.
#[derive(Clone, Default)]
pub(crate) struct Trace(Option<Arc<Inner>>);

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(i) => write!(f, "Trace({})", i.level),
            None => f.write_str("Trace(off)"),
        }
    }
}

impl Trace {
    /// A trace into `sink` (none: off) of the lines up to `level`, from which every
    /// token `token` holds or will hold is blotted out.
    pub fn new(sink: Option<LogFn>, level: Level, token: Arc<Token>) -> Trace {
        let Some(sink) = sink else {
            return Trace(None);
        };
        Trace(Some(Arc::new(Inner {
            sink,
            level,
            token,
            connects: AtomicU64::new(0),
        })))
    }

    /// True when a line of `level` would be written: test before formatting.
    #[inline]
    pub fn on(&self, level: Level) -> bool {
        self.0.as_ref().is_some_and(|i| level <= i.level)
    }

    /// Writes the line `line()` makes, if `level` is on; the line is made only then.
    #[inline]
    pub fn log(&self, level: Level, line: impl FnOnce() -> String) {
        if let Some(inner) = &self.0 {
            if level <= inner.level {
                inner.write(level, line());
            }
        }
    }

    /// Connections opened so far (counted at debug level only).
    pub fn connects(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |i| i.connects.load(Ordering::Relaxed))
    }

    /// Counts a connection opened (by the agent's connector, at debug level).
    pub fn count_connect(&self) {
        if let Some(i) = &self.0 {
            i.connects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Inner {
    fn write(&self, level: Level, line: String) {
        let mut line = self.token.redact(line);
        // A NUL would cut the line short for a C reader.
        if line.contains('\0') {
            line = line.replace('\0', "\\0");
        }
        (self.sink)(level, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn collecting(level: Level, token: &str) -> (Trace, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let log: LogFn = Arc::new(move |_, l: &str| sink.lock().unwrap().push(l.to_string()));
        let token = Arc::new(Token::new(token, None));
        (Trace::new(Some(log), level, token), lines)
    }

    #[test]
    fn lines_below_the_level_are_never_made() {
        let (trace, lines) = collecting(Level::Info, "EAAsecret-token");
        trace.log(Level::Debug, || {
            panic!("a debug line was formatted at info")
        });
        trace.log(Level::Info, || "kept".into());
        assert_eq!(*lines.lock().unwrap(), ["kept"]);
        Trace::default().log(Level::Error, || panic!("formatted with no sink"));
    }

    #[test]
    fn tokens_are_blotted_out_even_when_a_server_echoes_them() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let log: LogFn = Arc::new(move |_, l: &str| sink.lock().unwrap().push(l.to_string()));
        let token = Arc::new(Token::new(
            "EAAsecret-token",
            Some(Arc::new(|| Some("EAArefreshed-token".into()))),
        ));
        let trace = Trace::new(Some(log), Level::Debug, token.clone());
        assert!(token.refresh());
        trace.log(Level::Info, || {
            "Graph said: bad token EAAsecret-token, then EAArefreshed-token".into()
        });
        assert_eq!(
            lines.lock().unwrap()[0],
            "Graph said: bad token <token>, then <token>"
        );
    }

    #[test]
    fn levels_have_numbers_and_names() {
        assert_eq!(Level::from_number(0), Some(Level::Info));
        assert_eq!(Level::from_number(4), Some(Level::Debug));
        assert_eq!(Level::from_number(5), None);
        assert_eq!(Level::Warning.to_string(), "warning");
        assert!(Level::Error < Level::Debug);
    }
}
