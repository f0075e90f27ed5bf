//! `fbup man`: the manual pages, one per subcommand (`fbup man upload` is
//! fbup-upload(1)), each with its options, the environment it reads and the exit
//! codes, from the same definitions as `--help`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use fbup::Status;

use crate::{exit_code, exit_meaning, Cli, Failure};

/// The environment variables the commands read.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("FBUP_ACCESS_TOKEN", "The access token (--token-file reads it from a file instead); never taken from the command line."),
    ("FBUP_APP_ID", "The Meta app id, as --app-id."),
    ("FBUP_GRAPH_URL", "Graph's base URL, as --graph-url."),
    ("FBUP_CA_FILE", "A PEM file of root certificates, as --ca-file."),
    ("FBUP_SEND_BUFFER", "Bytes read and sent at a time, as --send-buffer (upload, resume)."),
    ("FBUP_STATE_DIR", "The resume journal's folder, as --state-dir (upload, sessions)."),
    ("XDG_STATE_HOME", "The journal's default folder is $XDG_STATE_HOME/fbup, else ~/.local/state/fbup."),
    ("HTTPS_PROXY, ALL_PROXY, HTTP_PROXY, NO_PROXY", "The proxy when --proxy is not given (either case)."),
];

/// The subcommands with a page of their own.
fn pages() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect()
}

/// Writes the page of `sub` (None: the top page, fbup(1)).
fn render(sub: Option<&str>, out: &mut dyn Write) -> Result<(), Failure> {
    // `fbup help` is in every page's --help; it has no page of its own.
    let top = Cli::command()
        .after_help(None::<&str>)
        .disable_help_subcommand(true);
    let cmd = match sub {
        None => top,
        Some(name) => top
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| Failure {
                code: 2,
                message: format!(
                    "no manual page for '{name}': the pages are fbup and {}",
                    pages().join(", ")
                ),
            })?
            .display_name(format!("fbup-{name}"))
            .bin_name(format!("fbup {name}"))
            .version(env!("CARGO_PKG_VERSION")),
    };
    let man = clap_mangen::Man::new(cmd.clone()).section("1");
    let written = (|| {
        man.render_title(out)?;
        man.render_name_section(out)?;
        man.render_synopsis_section(out)?;
        man.render_description_section(out)?;
        if cmd.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(out)?;
        }
        if cmd.has_subcommands() {
            man.render_subcommands_section(out)?;
        }
        out.write_all(sections().as_bytes())?;
        man.render_version_section(out)
    })();
    written.map_err(|e| Failure {
        code: 1,
        message: format!("cannot write the manual page: {e}"),
    })
}

/// Roff text: a bold term, then its text.
fn item(term: &str, text: &str) -> String {
    format!(".TP\n\\fB{}\\fR\n{}\n", roff(term), roff(text))
}

/// Escapes what roff would take as its own: backslashes, and a leading dot or quote.
fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    match s.chars().next() {
        Some('.') | Some('\'') => format!("\\&{s}"),
        _ => s,
    }
}

/// ENVIRONMENT and EXIT STATUS.
fn sections() -> String {
    let mut s = String::from(".SH ENVIRONMENT\n");
    for (name, text) in ENVIRONMENT {
        s.push_str(&item(name, text));
    }
    s.push_str(".SH \"EXIT STATUS\"\n");
    s.push_str(&item("0", "every upload succeeded"));
    s.push_str(&item("2", "the command line is wrong"));
    let output = crate::out::OUTPUT_FAILED_MEANING
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    s.push_str(&item(&crate::out::OUTPUT_FAILED.to_string(), &output));
    for status in Status::ALL.into_iter().filter(|s| *s != Status::Ok) {
        let meaning = exit_meaning(status)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        s.push_str(&item(&exit_code(status).to_string(), &meaning));
    }
    s.push_str(".PP\nWith several files, the exit code is the first failure's, in the order the files were given.\n");
    s
}

/// A page on a terminal is shown as `man` shows its own (`man -l -`: formatted, in the
/// pager); piped or redirected, or where `man` cannot run, it is the roff source.
fn show(page: &[u8]) -> Result<(), Failure> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        let viewer = std::process::Command::new("man")
            .args(["-l", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn();
        if let Ok(mut man) = viewer {
            if let Some(mut input) = man.stdin.take() {
                // The reader may quit the pager before the page is all written.
                let _ = input.write_all(page);
            }
            if man.wait().is_ok_and(|s| s.success()) {
                return Ok(());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    out.write_all(page)
        .and_then(|()| out.flush())
        .map_err(|e| crate::out::output_failure(&e))
}

/// `fbup man [SUBCOMMAND] [--dir DIR]`.
pub(crate) fn run(sub: Option<&str>, dir: Option<&Path>) -> Result<(), Failure> {
    let Some(dir) = dir else {
        let mut page = Vec::new();
        render(sub, &mut page)?;
        return show(&page);
    };
    let mut names: Vec<Option<String>> = vec![None];
    names.extend(pages().into_iter().map(Some));
    for name in names {
        let file = match &name {
            None => dir.join("fbup.1"),
            Some(n) => dir.join(format!("fbup-{n}.1")),
        };
        let mut f = std::fs::File::create(&file).map_err(|e| Failure {
            code: 1,
            message: format!("cannot write {}: {e}", file.display()),
        })?;
        render(name.as_deref(), &mut f)?;
        crate::out::result(&format!("{}", file.display()))?;
    }
    Ok(())
}
