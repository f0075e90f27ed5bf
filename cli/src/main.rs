//! `fbup`: resumable uploads to the Meta Graph API from any script.

mod demo;
mod upload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use fbup::{Config, Status};

const EXIT_CODES: &str = "\
Exit codes:
  0   every upload succeeded
  2   the command line is wrong
  11  bad argument (unknown file type, empty file, missing token or app id)
  12  the file cannot be read, or changed during the upload
  13  network error, retries spent
  14  timed out, retries spent
  15  Graph refused the access token (code 190)
  16  a Graph error that retrying cannot fix
  17  throttled by Graph, retries spent
  18  an answer outside the protocol
  19  cancelled; the session stays resumable
  20  another process is uploading the same file
  21  internal error in fbup
With several files, the first failure's code.

The access token comes from FBUP_ACCESS_TOKEN or --token-file, never from the command
line (other users of the machine can read it). The app id comes from --app-id or
FBUP_APP_ID.";

/// Resumable uploads to the Meta Graph API.
#[derive(Parser, Debug)]
#[command(name = "fbup", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Upload files; prints each file's handle on stdout.
    Upload(UploadArgs),
    /// Resume an upload session from its id and finish it.
    Resume {
        /// The session id, `?sig=` part included.
        session_id: String,
        /// The file the session was created for.
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Print how many bytes Graph holds for a session.
    Offset {
        /// The session id, `?sig=` part included.
        session_id: String,
        #[command(flatten)]
        common: Common,
    },
    /// List the pending uploads in the resume journal.
    Sessions {
        /// Remove entries older than a session's lifetime.
        #[arg(long)]
        prune: bool,
        /// The journal's folder (default: $XDG_STATE_HOME/fbup).
        #[arg(long, value_name = "DIR", env = "FBUP_STATE_DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Run the Graph emulator (same flags as fbup-emulator).
    Emulate(fbup_emulator::cli::Args),
    /// Upload a sample file to an in-process emulator, with a cut and a resume.
    Demo {
        /// Size of the sample file in MiB.
        #[arg(long, default_value_t = 48)]
        size_mib: u64,
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
    /// Bytes read from the file and sent at a time (default 65536).
    #[arg(long, value_name = "BYTES", env = "FBUP_SEND_BUFFER")]
    send_buffer: Option<usize>,
    /// Print nothing on stderr but errors.
    #[arg(long, short)]
    quiet: bool,
    /// Print one JSON object per file on stdout instead of plain lines.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct UploadArgs {
    /// The files to upload.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The file type (default: from the extension).
    #[arg(long = "type", value_name = "MIME")]
    file_type: Option<String>,
    /// The file name Graph is told (default: the file's base name; one file only).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// How many files to upload at once.
    #[arg(long, default_value_t = 1, value_name = "N")]
    jobs: usize,
    /// Do not use the resume journal: always start new sessions.
    #[arg(long)]
    no_resume: bool,
    /// The resume journal's folder (default: $XDG_STATE_HOME/fbup).
    #[arg(long, value_name = "DIR", env = "FBUP_STATE_DIR")]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// A failure of the command, with the exit code it maps to.
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
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

/// The config every Graph command starts from.
fn base_config(common: &Common) -> Result<Config, Failure> {
    let app_id = common.app_id.clone().ok_or_else(|| {
        Failure::from_status(
            Status::Argument,
            "no app id: pass --app-id or set FBUP_APP_ID",
        )
    })?;
    let token = match &common.token_file {
        Some(path) => std::fs::read_to_string(path)
            .map(|t| t.trim().to_string())
            .map_err(|e| {
                Failure::from_status(
                    Status::Argument,
                    format!("cannot read the token file '{}': {e}", path.display()),
                )
            })?,
        None => std::env::var("FBUP_ACCESS_TOKEN").unwrap_or_default(),
    };
    if token.is_empty() {
        return Err(Failure::from_status(
            Status::Argument,
            "no access token: set FBUP_ACCESS_TOKEN or pass --token-file FILE",
        ));
    }
    let mut config = Config::new(app_id, token);
    config.graph_url = common.graph_url.clone();
    config.api_version = common.api_version.clone();
    config.ca_file = common.ca_file.clone();
    config.proxy = common.proxy.clone();
    if let Some(n) = common.send_buffer {
        config.send_buffer = n;
    }
    Ok(config)
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Upload(args) => {
            let mut config = base_config(&args.common)?;
            config.file_type = args.file_type.clone();
            if args.name.is_some() && args.files.len() > 1 {
                return Err(Failure::from_status(
                    Status::Argument,
                    "--name applies to one file; upload the files one at a time",
                ));
            }
            config.file_name = args.name.clone();
            if !args.no_resume {
                config.state_dir = args.state_dir.clone().or_else(default_state_dir);
            }
            upload::upload_files(&config, &args.files, args.jobs.max(1), &args.common)
        }
        Command::Resume {
            session_id,
            file,
            common,
        } => {
            let config = base_config(&common)?;
            upload::resume(&config, &session_id, &file, &common)
        }
        Command::Offset { session_id, common } => {
            let config = base_config(&common)?;
            let off = fbup::session_offset(&config, &session_id)
                .map_err(|e| Failure::from_status(e.status, e.message))?;
            if common.json {
                println!(
                    "{}",
                    serde_json::json!({ "session_id": session_id, "file_offset": off })
                );
            } else {
                println!("{off}");
            }
            Ok(())
        }
        Command::Sessions { prune, state_dir } => {
            let dir = state_dir.or_else(default_state_dir).ok_or_else(|| {
                Failure::from_status(Status::Argument, "no journal folder: pass --state-dir")
            })?;
            if prune {
                println!("pruned {} entries", fbup::journal::prune(&dir));
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            for e in fbup::journal::list(&dir) {
                println!(
                    "{}\t{}\t{} bytes\t{} s old{}",
                    e.session_id,
                    e.file_path.display(),
                    e.file_size,
                    now.saturating_sub(e.created_unix),
                    if e.in_use { "\tin use" } else { "" }
                );
            }
            Ok(())
        }
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
        Command::Demo { size_mib } => demo::run(size_mib),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("fbup: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}
