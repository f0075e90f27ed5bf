//! `fbup`: resumable uploads to the Meta Graph API from any script.

mod args;
mod checks;
mod demo;
mod descriptors;
mod list;
mod man;
mod out;
mod probe;
mod progress;
mod sessions;
mod signals;
mod stdin;
mod terminal;
mod token;
mod upload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use fbup::{Config, Field, Status};

use args::{Cli, Command, Common, Sending, UploadArgs};

/// What an exit code means to a user of the command; the library's text for a status
/// the command has no words of its own for.
pub(crate) fn exit_meaning(status: Status) -> &'static str {
    match status {
        Status::Argument => "bad argument (unknown file type, empty file, missing token or app id)",
        Status::File => "the file cannot be read, or changed during the upload",
        Status::Network => "network error, retries spent",
        Status::Timeout => "timed out, retries spent",
        Status::Auth => "Graph refused the access token (code 190 or 102)",
        Status::Graph => "a Graph error that retrying cannot fix",
        Status::Throttled => "throttled by Graph, retries spent",
        Status::Protocol => "an answer outside the protocol",
        Status::Cancelled => "cancelled (Ctrl-C, SIGTERM); the session stays resumable",
        Status::State => "another process is uploading the same file",
        Status::Internal => "internal error in fbup",
        Status::HandleLost => {
            "every byte reached Graph but the handle was lost (with --no-reupload; without\n      \
             it, fbup uploads the file once more in a new session)"
        }
        other => other.describe(),
    }
}

/// The help's closing text: every exit code, from the library's table of statuses.
fn exit_codes() -> String {
    let mut text = String::from(
        "Exit codes:\n  0   every upload succeeded\n  2   the command line is wrong\n",
    );
    text.push_str(&format!(
        "  {:<3} {}\n",
        out::OUTPUT_FAILED,
        out::OUTPUT_FAILED_MEANING
    ));
    for s in Status::ALL.into_iter().filter(|s| *s != Status::Ok) {
        text.push_str(&format!("  {:<3} {}\n", exit_code(s), exit_meaning(s)));
    }
    text.push_str(
        "\nWith several files, the exit code is the first failure's, in the order the files\n\
         were given.\n\n\
         The access token comes from FBUP_ACCESS_TOKEN or --token-file, never from the command\n\
         line (other users of the machine can read it). The app id comes from --app-id or\n\
         FBUP_APP_ID.",
    );
    text
}

/// What the command calls a field of the library's config: its flag, or `None` when
/// it has none (a hint about such a field is left out of the message).
fn flag(field: Field) -> Option<String> {
    let name = match field {
        Field::AppId => "--app-id",
        Field::AccessToken => "the access token",
        Field::GraphUrl => "--graph-url",
        Field::ApiVersion => "--api-version",
        Field::FileName => "--name",
        Field::FileType => "--type",
        Field::CaFile => "--ca-file",
        Field::Proxy => "--proxy",
        Field::SendBuffer => "--send-buffer",
        Field::MaxAttempts => "--retries",
        Field::MaxRetry => "--retry-max-time",
        Field::SessionId => "the session id",
        Field::StateDir => "--state-dir",
        _ => return None,
    };
    Some(name.into())
}

/// A library error in the command's words: its flags where the library names fields.
pub(crate) fn cli_message(e: &fbup::Error) -> String {
    e.message_with(flag)
}

/// A failure of the command, with the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    /// A library error, in the command's words, with its status's exit code.
    pub(crate) fn from_error(e: &fbup::Error) -> Failure {
        Failure::from_status(e.status, cli_message(e))
    }

    pub(crate) fn from_status(status: Status, message: impl Into<String>) -> Failure {
        Failure {
            code: exit_code(status),
            message: message.into(),
        }
    }
}

/// The exit code for a status: 10 + its number (0 for success).
pub(crate) fn exit_code(status: Status) -> u8 {
    match status {
        Status::Ok => 0,
        other => 10 + other as u8,
    }
}

/// The default journal folder: `$XDG_STATE_HOME/fbup`, else `~/.local/state/fbup`.
pub(crate) fn default_state_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("fbup"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/fbup"))
}

/// The config every Graph command starts from; `sending` for the commands that send.
fn base_config(common: &Common, sending: &Sending) -> Result<Config, Failure> {
    let app_id = common.app_id.clone().ok_or_else(|| {
        Failure::from_status(
            Status::Argument,
            "no app id: pass --app-id or set FBUP_APP_ID",
        )
    })?;
    let token = token::read_token(common.token_file.as_deref())?;
    if token.is_empty() {
        let message = match &common.token_file {
            Some(f) => format!(
                "the token file '{}' is empty: put the access token in it",
                f.display()
            ),
            None => "no access token: set FBUP_ACCESS_TOKEN or pass --token-file FILE".into(),
        };
        return Err(Failure::from_status(Status::Argument, message));
    }
    let mut config = graph_config(common, app_id, token);
    if let Some(n) = sending.send_buffer {
        config.send_buffer = n;
    }
    config.max_send_rate = sending.limit_rate.unwrap_or(0);
    config.max_request = sending.max_request.unwrap_or(0);
    if let Some(d) = sending.stall_timeout {
        config.stall_timeout = d;
    }
    Ok(config)
}

/// Where Graph is and how it is reached (its URL, version, CA file, proxy, retries,
/// timeouts, the trace): what every command that asks Graph shares.
pub(crate) fn graph_config(common: &Common, app_id: String, token: String) -> Config {
    let mut config = Config::new(app_id, token);
    config.graph_url = common.graph_url.clone();
    config.api_version = common.api_version.clone();
    config.ca_file = common.ca_file.clone();
    config.proxy = common.proxy.clone();
    if let Some(n) = common.retries {
        // --retries counts the tries after the first, as curl's --retry does.
        config.max_attempts = n + 1;
    }
    if let Some(d) = common.retry_max_time {
        config.max_retry = d;
    }
    if let Some(d) = common.connect_timeout {
        config.connect_timeout = d;
    }
    if common.verbose > 0 {
        config.log_level = if common.verbose > 1 {
            fbup::Level::Debug
        } else {
            fbup::Level::Info
        };
        // Commands that show progress put the trace between its lines instead.
        config.log = Some(std::sync::Arc::new(|level, line: &str| {
            out::err(&out::message(&progress::trace_line(level, line)))
        }));
    }
    config
}

/// `fbup upload`: the files (or standard input) with the options they take.
fn upload_command(args: UploadArgs) -> Result<(), Failure> {
    signals::handle_signals();
    let mut config = base_config(&args.common, &args.sending)?;
    config.file_type = args.file_type.clone();
    let mut files = args.files.clone();
    let list = match &args.files_from {
        Some(list) => {
            if list.as_os_str() == "-" && files.iter().any(|f| f.as_os_str() == "-") {
                return Err(Failure::from_status(
                    Status::Argument,
                    "standard input is the list of names (--files-from -); it cannot be a file \
                     to upload as well",
                ));
            }
            Some(list::NameList::read(list, args.null)?)
        }
        None => None,
    };
    let several = files.len() + list.as_ref().map_or(0, list::NameList::len) > 1;
    if args.name.is_some() && several {
        return Err(Failure::from_status(
            Status::Argument,
            "--name applies to one file; upload the files one at a time",
        ));
    }
    config.file_name = args.name.clone();
    let mut journal = !args.no_resume;
    if files.iter().any(|f| f.as_os_str() == "-") {
        if several {
            return Err(Failure::from_status(
                Status::Argument,
                "- (standard input) is uploaded alone; give the other files to another \
                 fbup upload",
            ));
        }
        let input = stdin::take(&mut config, args.name.as_deref())?;
        journal &= input.journal;
        files[0] = input.path;
    }
    if journal {
        config.state_dir = args.state_dir.clone().or_else(default_state_dir);
    }
    upload::upload_files(
        &config,
        &list::AllNames::new(files, list),
        args.jobs,
        !args.no_reupload,
        upload::Output::of(&args.common, &args.sending),
    )
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Upload(args) => upload_command(args),
        Command::Resume {
            session_id,
            file,
            state_dir,
            no_resume,
            sending,
            common,
        } => {
            signals::handle_signals();
            let mut config = base_config(&common, &sending)?;
            if !no_resume {
                config.state_dir = state_dir.or_else(default_state_dir);
            }
            let file = if file.as_os_str() == "-" {
                stdin::take(&mut config, None)?.path
            } else {
                file
            };
            let out = upload::Output::of(&common, &sending);
            upload::resume(&config, &session_id, &file, out)
        }
        Command::Offset {
            session_id,
            json,
            common,
        } => {
            let config = base_config(&common, &Sending::default())?;
            let off =
                fbup::session_offset(&config, &session_id).map_err(|e| Failure::from_error(&e))?;
            out::result(&if json {
                serde_json::json!({ "session_id": session_id, "file_offset": off }).to_string()
            } else {
                off.to_string()
            })
        }
        Command::Probe { json, common } => {
            probe::run(json, base_config(&common, &Sending::default())?)
        }
        Command::Sessions {
            prune,
            state_dir,
            json,
            common,
        } => sessions::run(state_dir, prune, json, &common),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "fbup", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .and_then(|()| std::io::Write::flush(&mut std::io::stdout()))
                .map_err(|e| out::output_failure(&e))
        }
        Command::Man { subcommand, dir } => man::run(subcommand.as_deref(), dir.as_deref()),
        Command::Emulate(args) => {
            let code = fbup_emulator::cli::run(args);
            if code == ExitCode::SUCCESS {
                Ok(())
            } else {
                Err(Failure {
                    code: 1,
                    message: "the emulator stopped with an error".into(),
                })
            }
        }
        Command::Demo { size_mib, no_pace } => demo::run(size_mib, !no_pace),
    }
}

/// An empty `FBUP_*` setting (`FBUP_GRAPH_URL=`) is unset, as shells and curl treat
/// an empty variable, instead of an empty URL or folder; run before any thread starts.
fn unset_empty_settings() {
    let empty: Vec<_> = std::env::vars_os()
        .filter(|(k, v)| k.as_encoded_bytes().starts_with(b"FBUP_") && v.is_empty())
        .map(|(k, _)| k)
        .collect();
    for k in empty {
        std::env::remove_var(k);
    }
}

fn main() -> ExitCode {
    // A closed stdout would lose every handle: refused before anything else.
    if out::stdout_was_closed() {
        out::err("fbup: standard output is closed: the handles would be lost; run with a stdout");
        return ExitCode::from(out::OUTPUT_FAILED);
    }
    unset_empty_settings();
    descriptors::raise_limit();
    let cli = Cli::parse();
    let result = run(cli);
    stdin::remove_spool();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                out::err(&out::message(&format!("fbup: {}", f.message)));
            }
            ExitCode::from(f.code)
        }
    }
}
