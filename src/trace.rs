//! The trace: lines that show what fbup asked Graph, what Graph answered and what fbup
//! decided, handed to the caller's log function on the thread running the call. With
//! no log function, nothing is formatted.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ureq::unversioned::transport::{ConnectionDetails, Connector, Transport};

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

/// Tokens shorter than this are not searched for in lines (a one-letter test token
/// would garble every line); real tokens are well over a hundred characters.
const SHORTEST_REDACTED: usize = 8;

struct Inner {
    sink: LogFn,
    level: Level,
    /// Every token this trace has seen: none may appear in a line.
    secrets: Mutex<Vec<String>>,
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
    /// A trace into `sink` (none: off) of the lines up to `level`, with `token`
    /// already secret.
    pub fn new(sink: Option<LogFn>, level: Level, token: &str) -> Trace {
        let Some(sink) = sink else {
            return Trace(None);
        };
        let trace = Trace(Some(Arc::new(Inner {
            sink,
            level,
            secrets: Mutex::new(Vec::new()),
            connects: AtomicU64::new(0),
        })));
        trace.secret(token);
        trace
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

    /// A token that must never appear in a line (the first one, each refreshed one).
    pub fn secret(&self, token: &str) {
        if let Some(inner) = &self.0 {
            if token.len() >= SHORTEST_REDACTED {
                let mut s = inner.secrets.lock().unwrap_or_else(|e| e.into_inner());
                if !s.iter().any(|t| t == token) {
                    s.push(token.to_string());
                }
            }
        }
    }

    /// Connections opened so far (counted at debug level only).
    pub fn connects(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |i| i.connects.load(Ordering::Relaxed))
    }
}

impl Inner {
    fn write(&self, level: Level, mut line: String) {
        for t in self
            .secrets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            if line.contains(t.as_str()) {
                line = line.replace(t.as_str(), "<token>");
            }
        }
        // A NUL would cut the line short for a C reader.
        if line.contains('\0') {
            line = line.replace('\0', "\\0");
        }
        (self.sink)(level, &line);
    }
}

/// Which step of making a connection a [`Watch`] reports.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    /// The CONNECT request through an HTTP proxy.
    Proxy,
    /// The TCP connect to Graph.
    Tcp,
    /// The TLS handshake.
    Tls,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Proxy => "the proxy's CONNECT",
            Step::Tcp => "the TCP connect",
            Step::Tls => "the TLS handshake",
        }
    }
}

/// Wraps one connector of ureq's chain and reports, at debug level, the step it
/// performs and how long it took.
pub(crate) struct Watch<C> {
    pub inner: C,
    pub trace: Trace,
    pub step: Step,
}

impl<C> fmt::Debug for Watch<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").field("step", &self.step).finish()
    }
}

impl<In: Transport, C: Connector<In>> Connector<In> for Watch<C> {
    type Out = C::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let applies = match self.step {
            Step::Proxy | Step::Tcp => chained.is_none(),
            Step::Tls => details.needs_tls() && !chained.as_ref().is_some_and(|t| t.is_tls()),
        };
        if !applies || !self.trace.on(Level::Debug) {
            return self.inner.connect(details, chained);
        }
        let start = Instant::now();
        let result = self.inner.connect(details, chained);
        let ms = start.elapsed().as_millis();
        let target = details
            .uri
            .authority()
            .map_or_else(String::new, |a| a.to_string());
        let line = match (&result, self.step) {
            (Ok(None), _) => return result,
            (Ok(Some(_)), Step::Proxy) => {
                let proxy = details
                    .config
                    .proxy()
                    .map_or_else(String::new, |p| format!("{}:{}", p.host(), p.port()));
                format!("connected to {target} through the proxy {proxy} (CONNECT) in {ms} ms")
            }
            (Ok(Some(_)), Step::Tcp) => {
                let addr = details.addrs.first().map(|a| a.to_string());
                format!(
                    "connected to {target} ({}) in {ms} ms",
                    addr.unwrap_or_default()
                )
            }
            (Ok(Some(_)), Step::Tls) => format!("TLS handshake with {target} done in {ms} ms"),
            (Err(e), step) => format!("{} with {target} failed after {ms} ms: {e}", step.name()),
        };
        if let (Ok(Some(_)), Step::Tcp | Step::Proxy, Some(inner)) =
            (&result, self.step, &self.trace.0)
        {
            inner.connects.fetch_add(1, Ordering::Relaxed);
        }
        self.trace.log(Level::Debug, || line);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collecting(level: Level, token: &str) -> (Trace, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let log: LogFn = Arc::new(move |_, l: &str| sink.lock().unwrap().push(l.to_string()));
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
        let (trace, lines) = collecting(Level::Debug, "EAAsecret-token");
        trace.secret("EAArefreshed-token");
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
