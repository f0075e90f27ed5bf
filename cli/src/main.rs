//! `fbup`: resumable uploads to the Meta Graph API from any script.

mod demo;
mod man;
mod probe;
mod progress;
mod stdin;
mod upload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use fbup::{Config, Field, Status};

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

/// Resumable uploads to the Meta Graph API.
#[derive(Parser, Debug)]
#[command(name = "fbup", version, after_help = exit_codes())]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Upload files; prints each file's handle on stdout.
    // The usage is written out: clap's own would list the options the environment
    // sets (FBUP_APP_ID...) as if they were required.
    #[command(override_usage = "fbup upload [OPTIONS] <FILES>...")]
    Upload(UploadArgs),
    /// Resume an upload session from its id and finish it.
    Resume {
        /// The session id, `?sig=` part included.
        session_id: String,
        /// The file the session was created for (`-`: standard input, the same bytes).
        file: PathBuf,
        #[command(flatten)]
        sending: Sending,
        #[command(flatten)]
        common: Common,
    },
    /// Print how many bytes Graph holds for a session.
    Offset {
        /// The session id, `?sig=` part included.
        session_id: String,
        /// Print a JSON object, {"session_id": ..., "file_offset": N}, instead of the
        /// number.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List the pending uploads in the resume journal, with what Graph holds of each.
    Sessions {
        /// Remove entries older than a session's lifetime.
        #[arg(long)]
        prune: bool,
        /// The journal's folder (default: $XDG_STATE_HOME/fbup).
        #[arg(long, value_name = "DIR", env = "FBUP_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Print one JSON object per entry.
        #[arg(long)]
        json: bool,
        /// Read the access token from this file (default: $FBUP_ACCESS_TOKEN); without
        /// a token, what Graph holds is not asked.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// Run the recovery experiments against a Graph (a tiny PNG uploaded in two parts,
    /// a wrong file_offset, the final POST repeated, a percent-encoded id) and print
    /// what it answered and the `fbup emulate` options that answer the same way.
    Probe {
        /// Print the whole report as one JSON object: each experiment's answer and
        /// finding, and the emulator options.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Print a shell completion script: `fbup completions bash > /etc/bash_completion.d/fbup`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff): `fbup man > fbup.1`, `fbup man upload > fbup-upload.1`,
    /// or every page into a folder: `fbup man --dir /usr/local/share/man/man1`.
    Man {
        /// The subcommand whose page to print (upload, resume, offset, sessions, probe,
        /// completions, man, emulate, demo); none: the top page, fbup(1).
        subcommand: Option<String>,
        /// Write every page (fbup.1, fbup-upload.1, ...) into this folder instead.
        #[arg(long, value_name = "DIR", conflicts_with = "subcommand")]
        dir: Option<PathBuf>,
    },
    /// Run the Graph emulator (same flags as fbup-emulator).
    Emulate(fbup_emulator::cli::Args),
    /// Upload a sample file to an in-process emulator, with a cut and a resume.
    Demo {
        /// Size of the sample file in MiB.
        #[arg(long, default_value_t = 48)]
        size_mib: u64,
        /// On a terminal the demo is paced (about 4 s for the file) so that the cut and
        /// the resume can be watched; this sends at full speed.
        #[arg(long)]
        no_pace: bool,
    },
}

/// What every command that talks to Graph takes.
#[derive(Args, Debug, Clone)]
struct Common {
    /// The Meta app id.
    #[arg(long, env = "FBUP_APP_ID", value_name = "ID")]
    app_id: Option<String>,
    /// Read the access token from this file (default: $FBUP_ACCESS_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Graph's base URL.
    #[arg(long, env = "FBUP_GRAPH_URL", default_value = fbup::DEFAULT_GRAPH_URL, value_name = "URL")]
    graph_url: String,
    /// The Graph API version.
    #[arg(long, default_value = fbup::DEFAULT_API_VERSION, value_name = "V")]
    api_version: String,
    /// Trust the root certificates in this PEM file instead of the public ones.
    #[arg(long, env = "FBUP_CA_FILE", value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// The proxy (default: HTTPS_PROXY, ALL_PROXY and NO_PROXY from the environment).
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// Attempts in a row without progress before giving up (default 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    retries: Option<u32>,
    /// Seconds without progress before giving up (default 900).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    retry_max_time: Option<std::time::Duration>,
    /// Seconds a TCP connect may take (default 30).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    connect_timeout: Option<std::time::Duration>,
    /// Print nothing on stderr but errors.
    #[arg(long, short)]
    quiet: bool,
    /// Print the trace on stderr: each request to Graph, its answer and what fbup
    /// decided; twice (-vv) adds connection events. Never shows the token.
    #[arg(long, short, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// What the commands that send a file take (upload, resume).
#[derive(Args, Debug, Clone, Default)]
struct Sending {
    /// Bytes read from the file and sent at a time (default 65536).
    #[arg(long, value_name = "BYTES", env = "FBUP_SEND_BUFFER")]
    send_buffer: Option<usize>,
    /// Send at most RATE bytes per second in all, with curl's units: 500K, 10M, 1G
    /// (powers of 1024) or plain bytes; 0 is no limit, as with curl. The limit is the
    /// whole command's: with --jobs N, the files uploading at once share it.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    limit_rate: Option<u64>,
    /// Send at most SIZE body bytes in one upload request, with curl's units (500K,
    /// 10M, 1G or plain bytes), for a proxy or load balancer known to cut longer
    /// requests. Without it, the rest of the file goes in one request, and requests are
    /// bounded only after a cut that Graph kept none of.
    #[arg(long, value_name = "SIZE", value_parser = parse_rate)]
    max_request: Option<u64>,
    /// Seconds without a byte moving before an attempt fails and is retried (default 60).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    stall_timeout: Option<std::time::Duration>,
    /// Print one JSON object per file on stdout instead of plain lines (files refused
    /// before any upload included).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct UploadArgs {
    /// The files to upload; `-` is standard input, alone: a redirected file
    /// (`< video.mp4`) is read in place, a pipe is first copied to a temporary file
    /// (memory stays bounded), and --type (or --name with an extension) is required.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The file type (default: from the extension).
    #[arg(long = "type", value_name = "MIME")]
    file_type: Option<String>,
    /// The file name Graph is told (default: the file's base name; one file only).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// How many files to upload at once (1 or more).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_jobs)]
    jobs: usize,
    /// Do not use the resume journal: always start new sessions.
    #[arg(long)]
    no_resume: bool,
    /// When Graph holds every byte but the handle is lost, fail (exit 22) instead of
    /// uploading the file once more in a new session.
    #[arg(long)]
    no_reupload: bool,
    /// The resume journal's folder (default: $XDG_STATE_HOME/fbup).
    #[arg(long, value_name = "DIR", env = "FBUP_STATE_DIR")]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    sending: Sending,
    #[command(flatten)]
    common: Common,
}

/// `--limit-rate`: curl's spelling, a number with an optional K, M, G or T (powers of
/// 1024, either case); `1.5M` is allowed.
fn parse_rate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c.to_ascii_uppercase()),
        _ => (s, 'B'),
    };
    let not_a_size = || format!("'{s}' is not a size: write e.g. 500K, 10M or 1G (0: no limit)");
    let n: f64 = digits
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(not_a_size)?;
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return Err(format!("'{s}': unknown unit '{unit}': use K, M, G or T")),
    };
    if n == 0.0 {
        // As curl takes --limit-rate 0: no limit.
        return Ok(0);
    }
    let bytes = n * (1u64 << shift) as f64;
    if bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(bytes as u64)
}

/// Seconds, as a whole or decimal number.
fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0 && *n < 4_000_000.0)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("'{s}' is not a number of seconds above 0"))
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}': --jobs takes a whole number from 1")),
    }
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
        _ => return None,
    };
    Some(name.into())
}

/// A library error in the command's words: its flags where the library names fields.
pub(crate) fn cli_message(e: &fbup::Error) -> String {
    e.message_with(flag)
}

/// A failure of the command, with the exit code it maps to.
pub(crate) struct Failure {
    code: u8,
    message: String,
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
fn default_state_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("fbup"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/fbup"))
}

/// The access token: from `--token-file`, else `FBUP_ACCESS_TOKEN` ("" when neither).
fn read_token(token_file: Option<&std::path::Path>) -> Result<String, Failure> {
    match token_file {
        Some(path) => std::fs::read_to_string(path)
            .map(|t| t.trim().to_string())
            .map_err(|e| {
                Failure::from_status(
                    Status::Argument,
                    format!("cannot read the token file '{}': {e}", path.display()),
                )
            }),
        None => Ok(std::env::var("FBUP_ACCESS_TOKEN").unwrap_or_default()),
    }
}

/// The config every Graph command starts from; `sending` for the commands that send.
fn base_config(common: &Common, sending: &Sending) -> Result<Config, Failure> {
    let app_id = common.app_id.clone().ok_or_else(|| {
        Failure::from_status(
            Status::Argument,
            "no app id: pass --app-id or set FBUP_APP_ID",
        )
    })?;
    if !app_id.bytes().all(|b| b.is_ascii_digit()) || app_id.is_empty() {
        // Graph would answer with a puzzle about node types; say it here, asking nothing.
        return Err(Failure::from_status(
            Status::Argument,
            format!(
                "--app-id '{app_id}' is not an app id: pass the numeric App ID of your Meta app"
            ),
        ));
    }
    let token = read_token(common.token_file.as_deref())?;
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
    let mut config = Config::new(app_id, token);
    config.graph_url = common.graph_url.clone();
    config.api_version = common.api_version.clone();
    config.ca_file = common.ca_file.clone();
    config.proxy = common.proxy.clone();
    if let Some(n) = sending.send_buffer {
        config.send_buffer = n;
    }
    config.max_send_rate = sending.limit_rate.unwrap_or(0);
    config.max_request = sending.max_request.unwrap_or(0);
    if let Some(n) = common.retries {
        config.max_attempts = n;
    }
    if let Some(d) = common.retry_max_time {
        config.max_retry = d;
    }
    if let Some(d) = common.connect_timeout {
        config.connect_timeout = d;
    }
    if let Some(d) = sending.stall_timeout {
        config.stall_timeout = d;
    }
    if common.verbose > 0 {
        config.log_level = if common.verbose > 1 {
            fbup::Level::Debug
        } else {
            fbup::Level::Info
        };
        // Commands that show progress put the trace between its lines instead.
        config.log = Some(std::sync::Arc::new(|level, line: &str| {
            eprintln!("{}", progress::trace_line(level, line))
        }));
    }
    Ok(config)
}

/// `fbup upload`: the files (or standard input) with the options they take.
fn upload_command(args: UploadArgs) -> Result<(), Failure> {
    upload::handle_signals();
    let mut config = base_config(&args.common, &args.sending)?;
    config.file_type = args.file_type.clone();
    if args.name.is_some() && args.files.len() > 1 {
        return Err(Failure::from_status(
            Status::Argument,
            "--name applies to one file; upload the files one at a time",
        ));
    }
    config.file_name = args.name.clone();
    let mut files = args.files.clone();
    let mut journal = !args.no_resume;
    if files.iter().any(|f| f.as_os_str() == "-") {
        if files.len() > 1 {
            return Err(Failure::from_status(
                Status::Argument,
                "- (standard input) is uploaded alone; give the other files to another \
                 fbup upload",
            ));
        }
        let input = stdin::take(&mut config, args.name.as_deref(), true)?;
        journal &= input.journal;
        files[0] = input.path;
    }
    if journal {
        config.state_dir = args.state_dir.clone().or_else(default_state_dir);
    }
    upload::upload_files(
        &config,
        &files,
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
            sending,
            common,
        } => {
            upload::handle_signals();
            let mut config = base_config(&common, &sending)?;
            let file = if file.as_os_str() == "-" {
                stdin::take(&mut config, None, false)?.path
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
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "session_id": session_id, "file_offset": off })
                );
            } else {
                println!("{off}");
            }
            Ok(())
        }
        Command::Probe { json, common } => {
            probe::run(json, base_config(&common, &Sending::default())?)
        }
        Command::Sessions {
            prune,
            state_dir,
            json,
            token_file,
        } => sessions(state_dir, prune, json, token_file),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "fbup", &mut std::io::stdout());
            Ok(())
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

/// `fbup sessions`: the journal's entries, with what Graph holds of each when a token
/// is at hand.
fn sessions(
    state_dir: Option<PathBuf>,
    prune: bool,
    json: bool,
    token_file: Option<PathBuf>,
) -> Result<(), Failure> {
    let dir = state_dir.or_else(default_state_dir).ok_or_else(|| {
        Failure::from_status(Status::Argument, "no journal folder: pass --state-dir")
    })?;
    if prune {
        eprintln!("fbup: pruned {} entries", fbup::journal::prune(&dir));
    }
    let token = read_token(token_file.as_deref())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let entries = fbup::journal::list(&dir);
    if entries.is_empty() {
        eprintln!("fbup: no pending uploads in {}", dir.display());
    }
    for e in entries {
        let held = (!token.is_empty()).then(|| {
            let mut c = Config::new(e.app_id.clone(), token.clone());
            c.graph_url = e.graph_url.clone();
            c.api_version = e.api_version.clone();
            c.max_attempts = 1;
            fbup::session_offset(&c, &e.session_id).map_err(|err| cli_message(&err))
        });
        let age = now.saturating_sub(e.created_unix);
        if json {
            let mut o = serde_json::json!({
                "session_id": e.session_id,
                "file": e.file_path.display().to_string(),
                "file_length": e.file_size,
                "age_secs": age,
                "in_use": e.in_use,
            });
            match &held {
                Some(Ok(off)) => o["file_offset"] = (*off).into(),
                Some(Err(m)) => o["offset_error"] = m.as_str().into(),
                None => {}
            }
            println!("{o}");
        } else {
            let held = match &held {
                Some(Ok(off)) => format!("{off} of {} bytes held by Graph", e.file_size),
                Some(Err(m)) => format!("{} bytes; Graph not reached: {m}", e.file_size),
                None => format!("{} bytes (set FBUP_ACCESS_TOKEN to ask Graph)", e.file_size),
            };
            println!(
                "{}\t{}\t{held}\t{age} s old{}",
                e.session_id,
                e.file_path.display(),
                if e.in_use { "\tin use" } else { "" }
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli);
    stdin::remove_spool();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("fbup: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}
