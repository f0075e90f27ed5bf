//! The command line: every subcommand, its options and how their values are read.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exit_codes;

/// Resumable uploads to the Meta Graph API.
#[derive(Parser, Debug)]
#[command(name = "fbup", version, after_help = exit_codes())]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
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
        /// The resume journal's folder (default: $XDG_STATE_HOME/fbup): the session
        /// is recorded there for the file, under the same lock as `fbup upload`, and
        /// forgotten when it completes.
        #[arg(long, value_name = "DIR", env = "FBUP_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Do not use the resume journal.
        #[arg(long)]
        no_resume: bool,
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
    /// List the pending uploads in the resume journal, with what Graph holds of each
    /// (asked of the Graph that --graph-url names, never of one an entry names).
    Sessions {
        /// Remove entries older than a session's lifetime, entries that cannot be read
        /// and locks that guard no entry.
        #[arg(long)]
        prune: bool,
        /// The journal's folder (default: $XDG_STATE_HOME/fbup).
        #[arg(long, value_name = "DIR", env = "FBUP_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Print one JSON object per entry.
        #[arg(long)]
        json: bool,
        /// Without a token (FBUP_ACCESS_TOKEN or --token-file), what Graph holds is not
        /// asked.
        #[command(flatten)]
        common: Common,
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
    /// Show a manual page: on a terminal through `man`, else its roff source (`fbup man
    /// > fbup.1`, `fbup man upload > fbup-upload.1`); or write every page into a folder:
    /// `fbup man --dir /usr/local/share/man/man1`.
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
pub(crate) struct Common {
    /// The Meta app id.
    #[arg(long, env = "FBUP_APP_ID", value_name = "ID")]
    pub(crate) app_id: Option<String>,
    /// Read the access token from this file (default: $FBUP_ACCESS_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// Graph's base URL.
    #[arg(long, env = "FBUP_GRAPH_URL", default_value = fbup::DEFAULT_GRAPH_URL, value_name = "URL")]
    pub(crate) graph_url: String,
    /// The Graph API version.
    #[arg(long, default_value = fbup::DEFAULT_API_VERSION, value_name = "V")]
    pub(crate) api_version: String,
    /// Trust the root certificates in this PEM file instead of the public ones.
    #[arg(long, env = "FBUP_CA_FILE", value_name = "PEM")]
    pub(crate) ca_file: Option<PathBuf>,
    /// The proxy (default: HTTPS_PROXY, ALL_PROXY and NO_PROXY from the environment).
    #[arg(long, value_name = "URL")]
    pub(crate) proxy: Option<String>,
    /// Retries in a row without progress before giving up (default 7; 0 retries
    /// nothing), as curl's --retry counts them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..u32::MAX as i64))]
    pub(crate) retries: Option<u32>,
    /// Seconds without progress before giving up (default 900).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub(crate) retry_max_time: Option<std::time::Duration>,
    /// Seconds a TCP connect may take (default 30).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub(crate) connect_timeout: Option<std::time::Duration>,
    /// Print nothing on stderr but errors.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Print the trace on stderr: each request to Graph, its answer and what fbup
    /// decided; twice (-vv) adds connection events. Never shows the token.
    #[arg(long, short, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// What the commands that send a file take (upload, resume).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct Sending {
    /// Bytes read from the file and sent at a time (default 65536).
    #[arg(long, value_name = "BYTES", env = "FBUP_SEND_BUFFER")]
    pub(crate) send_buffer: Option<usize>,
    /// Send at most RATE bytes per second in all, with curl's units: 500K, 10M, 1G
    /// (powers of 1024) or plain bytes; 0 is no limit, as with curl. The limit is the
    /// whole command's: with --jobs N, the files uploading at once share it.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub(crate) limit_rate: Option<u64>,
    /// Send at most SIZE body bytes in one upload request, with curl's units (500K,
    /// 10M, 1G or plain bytes), for a proxy or load balancer known to cut longer
    /// requests. Without it, the rest of the file goes in one request, and requests are
    /// bounded only after a cut that Graph kept none of.
    #[arg(long, value_name = "SIZE", value_parser = parse_rate)]
    pub(crate) max_request: Option<u64>,
    /// Seconds without a byte moving before an attempt fails and is retried (default 60).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub(crate) stall_timeout: Option<std::time::Duration>,
    /// Print one JSON object per file on stdout instead of plain lines (files refused
    /// before any upload included).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct UploadArgs {
    /// The files to upload; `-` is standard input, alone: a redirected file
    /// (`< video.mp4`) is read in place, a pipe is first copied to a temporary file
    /// (memory stays bounded), and --type (or --name with an extension) is required.
    #[arg(required_unless_present = "files_from")]
    pub(crate) files: Vec<PathBuf>,
    /// Also upload the files named in FILE, one a line (`-`: standard input), for lists
    /// too long for the command line (`find . -name '*.jpg' | fbup upload --files-from -`).
    #[arg(long, value_name = "FILE")]
    pub(crate) files_from: Option<PathBuf>,
    /// The names of --files-from end with a NUL byte, not a newline (`find -print0`).
    #[arg(long, short = '0', requires = "files_from")]
    pub(crate) null: bool,
    /// The file type (default: from the extension).
    #[arg(long = "type", value_name = "MIME")]
    pub(crate) file_type: Option<String>,
    /// The file name Graph is told (default: the file's base name; one file only).
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// How many files to upload at once (1 or more).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_jobs)]
    pub(crate) jobs: usize,
    /// Do not use the resume journal: always start new sessions.
    #[arg(long)]
    pub(crate) no_resume: bool,
    /// When Graph holds every byte but the handle is lost, fail (exit 22) instead of
    /// uploading the file once more in a new session.
    #[arg(long)]
    pub(crate) no_reupload: bool,
    /// The resume journal's folder (default: $XDG_STATE_HOME/fbup).
    #[arg(long, value_name = "DIR", env = "FBUP_STATE_DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) sending: Sending,
    #[command(flatten)]
    pub(crate) common: Common,
}

/// `--limit-rate`: curl's spelling, a number with an optional K, M, G or T (powers of
/// 1024, either case); `1.5M` is allowed.
pub(crate) fn parse_rate(s: &str) -> Result<u64, String> {
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
pub(crate) fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n > 0.0 && *n < 4_000_000.0)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("'{s}' is not a number of seconds above 0"))
}

pub(crate) fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}': --jobs takes a whole number from 1")),
    }
}
