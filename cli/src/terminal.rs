//! stderr as indicatif draws the bars on it: the cursor left at the end of a bar's
//! text, with room for the `^C` a terminal echoes.

use std::sync::atomic::{AtomicBool, Ordering};

/// The columns left free at the right of every bar: a terminal echoes Ctrl-C as `^C`
/// where the cursor is, and at the end of a line that filled the width it would wrap
/// onto a line of its own, leaving the bar above on the screen, cut off mid-word.
pub(crate) const MARGIN: usize = 3;

/// Ends every bar's template (it takes no column): how [`EndOfText`] tells a bar's
/// line from a line of text.
pub(crate) const BAR_MARK: char = '\u{200B}';

/// stderr as the bars are drawn on it, with the cursor left at the end of a bar's text
/// rather than at the terminal's right edge. indicatif fills each line with spaces to
/// the edge, so that the next line starts on the next row by wrapping; after the last
/// bar that leaves the cursor waiting to wrap, and the `^C` a terminal echoes on
/// Ctrl-C then lands on a row of its own, which indicatif does not count: the bar above
/// it would stay on the screen. Here a bar's filler becomes a line break when another
/// line follows, and nothing after the last one (whose text, with [`MARGIN`], leaves
/// room for the `^C`). Lines of text keep their filler, so that what is written after
/// the display (a handle on stdout) starts on a row of its own.
#[derive(Debug)]
pub(crate) struct EndOfText {
    term: console::Term,
    /// The line just written was a bar's.
    bar: AtomicBool,
    /// A bar's filler was held back: the next line (or any other move) starts a new row.
    pending: AtomicBool,
}

impl EndOfText {
    pub(crate) fn new(term: console::Term) -> EndOfText {
        EndOfText {
            term,
            bar: AtomicBool::new(false),
            pending: AtomicBool::new(false),
        }
    }

    /// Ends the row a held-back filler would have ended.
    fn settle(&self) -> std::io::Result<()> {
        if self.pending.swap(false, Ordering::SeqCst) {
            self.term.write_str("\r\n")?;
        }
        Ok(())
    }
}

impl indicatif::TermLike for EndOfText {
    fn width(&self) -> u16 {
        self.term.size().1
    }
    fn height(&self) -> u16 {
        self.term.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.settle()?;
        self.term.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.settle()?;
        self.term.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.settle()?;
        self.term.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.settle()?;
        self.term.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.settle()?;
        self.term.write_line(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        let filler = !s.is_empty() && s.bytes().all(|b| b == b' ');
        if filler && self.bar.swap(false, Ordering::SeqCst) {
            // indicatif's filler to the right edge after a bar: held back.
            self.pending.store(true, Ordering::SeqCst);
            return Ok(());
        }
        self.settle()?;
        match s.strip_suffix(BAR_MARK) {
            Some(line) => {
                self.bar.store(true, Ordering::SeqCst);
                self.term.write_str(line)
            }
            None => {
                self.bar.store(false, Ordering::SeqCst);
                self.term.write_str(s)
            }
        }
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.settle()?;
        self.term.clear_line()
    }
    fn flush(&self) -> std::io::Result<()> {
        // The last line's filler is dropped: the cursor stays at the end of its text.
        self.pending.store(false, Ordering::SeqCst);
        self.term.flush()
    }
}
