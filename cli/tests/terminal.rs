//! `fbup` at a terminal: the bars, the retry and resume lines above them, the columns
//! they fit in, and Ctrl-C, SIGINT and SIGTERM as a person sends them.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::pty::{rates_shown, run_in_terminal, screen_of, terminal, terminal_with_stdout};
use common::{fx, p};
use fbup_emulator::{Fault, FaultRule, RequestKind};

#[test]
fn a_terminal_shows_the_retry_the_resume_and_a_sane_rate() {
    let fx = fx();
    let len = 12 * 1024 * 1024;
    let (path, sum) = fx.file("cut.mp4", len);
    // A first run is cut at half the file and gives up (--retries 0): Graph holds half.
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::CutAt {
            offset: len as u64 / 2,
        },
    ));
    let out = fx.run(&["upload", "--retries", "0", p(&path)]);
    assert_eq!(
        out.status.code(),
        Some(13),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let held = fx.emu.sessions()[0].file_offset;
    assert!(held >= len as u64 / 2);
    // The second run, at a terminal, resumes from there, meets one more cut, and is
    // held to 4 MiB/s: the bytes Graph held before must not count in its rate.
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Cut {
            after_bytes: 2 * 1024 * 1024,
        },
    ));
    let mut cmd = fx.fbup();
    cmd.args(["upload", "--limit-rate", "4M", p(&path)]);
    let (code, screen) = run_in_terminal(cmd, 120);
    eprintln!("--- the terminal showed (escapes removed, one redraw a line):\n{screen}");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("resuming at"), "the resume is shown");
    assert!(screen.contains("retry 1/7 in"), "the retry is shown");
    assert!(
        screen.contains("already held by Graph"),
        "the summary says what was held"
    );
    let rates = rates_shown(&screen);
    assert!(rates.len() >= 5, "the rate is shown: {rates:?}");
    let top = rates.iter().copied().fold(0.0, f64::max);
    assert!(
        top <= 4.0 * 1024.0 * 1024.0 * 1.5,
        "a rate of {top:.0} B/s was shown for a 4 MiB/s limit"
    );
    let s = &fx.emu.sessions()[0];
    assert_eq!(s.sha256.as_deref(), Some(sum.as_str()));
}

#[test]
fn at_80_columns_every_line_fits_and_a_resume_is_told_once() {
    let fx = fx();
    let len = 12 * 1024 * 1024;
    let (path, sum) = fx.file("a-rather-long-file-name-for-the-bar.mp4", len);
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Upload,
        Fault::Cut {
            after_bytes: 3 * 1024 * 1024,
        },
    ));
    let mut cmd = fx.fbup();
    cmd.args(["upload", "--limit-rate", "6M", p(&path)]);
    let (code, screen) = run_in_terminal(cmd, 80);
    eprintln!("--- an 80-column terminal showed:\n{screen}");
    assert_eq!(code, Some(0), "{screen}");
    // Each drawing of a bar (the messages above the bars may wrap, as any line of
    // text does).
    let bars: Vec<&str> = screen
        .lines()
        .flat_map(|l| l.split("   "))
        .map(str::trim)
        .filter(|piece| piece.contains("] ") && piece.contains(" sent"))
        .collect();
    assert!(bars.len() >= 5, "{screen}");
    for bar in bars {
        assert!(
            bar.chars().count() <= 80,
            "a bar of {} columns: {bar}",
            bar.chars().count()
        );
    }
    assert_eq!(screen.matches("resuming at").count(), 1, "{screen}");
    assert!(
        screen.contains(" sent "),
        "the figure says what it is: {screen}"
    );
    assert_eq!(fx.emu.sessions()[0].sha256.as_deref(), Some(sum.as_str()));
}

#[test]
fn sigint_cancels_says_what_graph_holds_and_the_same_command_resumes() {
    let fx = fx();
    let len = 8 * 1024 * 1024;
    let (path, sum) = fx.file("int.mp4", len);
    let child = fx.stalled_upload(3 * 1024 * 1024, &["upload", p(&path)]);
    let sent = Instant::now();
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(19), "{err}");
    assert!(took < Duration::from_secs(3), "exit {took:?} after SIGINT");
    let held = fx.emu.sessions()[0].file_offset;
    assert!(
        err.contains(&format!("Graph holds {held} of {len} bytes")),
        "{err}"
    );
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );

    let out = fx.run(&["upload", "--quiet", p(&path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sessions = fx.emu.sessions();
    assert_eq!(sessions.len(), 1, "the same session was resumed");
    assert_eq!(sessions[0].sha256.as_deref(), Some(sum.as_str()));
}

#[test]
fn two_sigterms_in_a_moment_are_one_clean_cancel() {
    let fx = fx();
    let len = 8 * 1024 * 1024;
    let (path, _) = fx.file("term.mp4", len);
    let child = fx.stalled_upload(2 * 1024 * 1024, &["upload", p(&path)]);
    // Graph is slow to say what it holds after the cancel: the second signal comes while
    // the first is still being served.
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Offset,
        Fault::LateAnswer { millis: 1500 },
    ));
    // SAFETY: plain kill(2)s of our own child, as GNU timeout sends them.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(19), "{err}");
    assert!(!err.contains("interrupted again"), "{err}");
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
}

#[test]
fn ctrl_c_while_graph_is_slow_says_so_at_once_and_names_the_resume_command() {
    let fx = fx();
    let len = 4 * 1024 * 1024;
    let (path, _) = fx.file("slow.mp4", len);
    // The offset request the cancel makes is answered 30 s late.
    fx.emu.add_fault(FaultRule::once(
        RequestKind::Offset,
        Fault::LateAnswer { millis: 30_000 },
    ));
    let child = fx.stalled_upload(1024 * 1024, &["upload", "--no-resume", p(&path)]);
    let sent = Instant::now();
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(19), "{err}");
    assert!(took < Duration::from_secs(7), "exit {took:?} after SIGINT");
    let first = err
        .lines()
        .find(|l| !l.contains("% sent"))
        .unwrap_or_default();
    assert!(first.starts_with("fbup: stopping"), "said at once: {err}");
    let id = &fx.emu.sessions()[0].id;
    assert!(
        err.contains(&format!("resume with: fbup resume '{id}' {}", p(&path))),
        "the session and the command to resume it (--no-resume: no journal): {err}"
    );
}

#[test]
fn ctrl_c_at_a_terminal_leaves_no_bar_behind() {
    let fx = fx();
    let (path, _) = fx.file("ctrl-c.mp4", 24 * 1024 * 1024);
    let mut cmd = fx.fbup();
    cmd.args(["upload", "--limit-rate", "8M", p(&path)]);
    let (code, raw) = terminal(cmd, 80, Some(Duration::from_millis(1500)));
    eprintln!("--- the terminal's bytes around the Ctrl-C:\n{raw:?}");
    assert_eq!(code, Some(19), "{raw}");
    // The terminal echoes ^C where the cursor is: on the bar's row, with room left, so
    // that the row the bar is on is the one fbup clears and writes on next. A cursor left
    // at the right edge would have wrapped the ^C onto a row of its own, leaving the bar.
    let (before, after) = raw.split_once("^C").expect("the terminal echoed ^C");
    let row = before.rsplit(['\r', '\n']).next().unwrap_or_default();
    let shown = screen_of(row).replace('\n', "");
    assert!(
        shown.chars().count() + 2 <= 80,
        "^C echoed at column {}: {shown:?}",
        shown.chars().count() + 1
    );
    assert!(after.starts_with("\r\x1b[2K"), "{after:?}");
    assert!(screen_of(after).contains("fbup: stopping"), "{after:?}");
}

/// `fbup upload ... | tee handles.txt` at a terminal: the pipe's reader writes the
/// handles to the screen the bars are drawn on, so with stdout a pipe progress is
/// plain lines, never a redraw; with stdout a file the bars are drawn as usual.
#[test]
fn bars_are_drawn_only_when_no_pipe_may_write_between_them() {
    let fx = fx();
    let files: Vec<_> = (0..3)
        .map(|i| fx.file(&format!("t{i}.png"), 1_000_000).0)
        .collect();
    let args = |cmd: &mut std::process::Command| {
        cmd.args(["upload", "--no-resume", "--limit-rate", "4M"])
            .args(files.iter().map(|f| p(f)));
    };
    let mut cmd = fx.fbup();
    args(&mut cmd);
    let (code, raw, out) = terminal_with_stdout(cmd, 100, None, Stdio::piped());
    assert_eq!(code, Some(0), "{raw}");
    assert_eq!(
        String::from_utf8_lossy(&out).lines().count(),
        3,
        "the handles"
    );
    assert!(!raw.contains('\x1b'), "no cursor is moved: {raw:?}");
    assert!(raw.contains("t1.png: 50% sent"), "plain lines: {raw}");
    let file = fx.dir.path().join("handles.txt");
    let mut cmd = fx.fbup();
    args(&mut cmd);
    let stdout = Stdio::from(std::fs::File::create(&file).unwrap());
    let (code, raw, _) = terminal_with_stdout(cmd, 100, None, stdout);
    assert_eq!(code, Some(0), "{raw}");
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);
    assert!(raw.contains("\x1b["), "bars when stdout is a file: {raw:?}");
}

/// A long list is checked with a count on the terminal, which leaves the screen before
/// the uploads start; the refused names are said around it.
#[test]
fn a_long_list_is_checked_with_a_count_on_the_terminal() {
    let fx = fx();
    let (real, _) = fx.file("real.png", 10_000);
    let mut list = format!("{}\n", p(&real));
    for i in 0..5_999 {
        list.push_str(&format!("{}/missing-{i}.png\n", fx.dir.path().display()));
    }
    let listing = fx.dir.path().join("list.txt");
    std::fs::write(&listing, list).unwrap();
    let mut cmd = fx.fbup();
    cmd.args(["upload", "--files-from", p(&listing)]);
    let (code, raw) = terminal(cmd, 100, None);
    let tail = raw.get(raw.len().saturating_sub(2000)..).unwrap_or(&raw);
    assert_eq!(code, Some(12), "{tail}");
    assert!(raw.contains("checking the files: "), "the count is shown");
    assert_eq!(raw.matches(": no such file").count(), 5_999);
    assert!(raw.contains("real.png: done"), "{tail}");
    assert_eq!(fx.emu.sessions().len(), 1);
}
