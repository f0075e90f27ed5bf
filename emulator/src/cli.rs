//! The emulator's command line, shared by the `fbup-emulator` binary and `fbup emulate`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::{Config, Emulator, FaultRule, RandomFaults, Storage};

/// A local emulator of the Meta Graph API's Resumable Upload API, with fault injection.
///
/// Prints `fbup-emulator listening on http://HOST:PORT` as its first line, then serves
/// until interrupted. It is not Graph: see the README for what it assumes.
#[derive(clap::Parser, Debug)]
#[command(name = "fbup-emulator", version)]
pub struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Accept only this token (repeatable); without it any non-empty token is accepted.
    #[arg(long = "token", value_name = "T")]
    pub tokens: Vec<String>,
    /// Accept only this app id (repeatable); without it any numeric app id is accepted.
    #[arg(long = "app-id", value_name = "A")]
    pub app_ids: Vec<String>,
    /// Keep each session's bytes in a file in DIR (default: a temporary folder removed at exit).
    #[arg(long, value_name = "DIR", conflicts_with = "discard")]
    pub store: Option<PathBuf>,
    /// Keep only counts and a running SHA-256 of each session.
    #[arg(long)]
    pub discard: bool,
    /// With --discard: keep only counts, no SHA-256 (for throughput benchmarks).
    #[arg(long, requires = "discard")]
    pub no_hash: bool,
    /// Accept any file_type, not only the five documented ones.
    #[arg(long)]
    pub any_type: bool,
    /// Answer "file_offset":"N" (a string) when asked for the offset.
    #[arg(long)]
    pub offset_as_string: bool,
    /// How long a session lives, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 86400)]
    pub session_ttl: u64,
    /// Inject a fault (repeatable): KIND,KEY[=VALUE],... with KIND create, upload or
    /// offset and keys cut-after=N, cut-at=OFFSET, cut-after-ms=MS, stall=MS [after=N] [then=close|continue],
    /// status=HTTP [code=N] [subcode=N] [transient] [type=T] [message=M] [header=Name:Value],
    /// lose-response, late=MS, times=N|always, session=ID. Example: upload,cut-after=1048576
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<FaultRule>,
    /// Random faults on every request: the chance (0 to 1) that a request meets one.
    #[arg(long, value_name = "RATE")]
    pub random_faults: Option<f64>,
    /// Seed of the random fault mode.
    #[arg(long, value_name = "SEED", default_value_t = 1)]
    pub seed: u64,
    /// Serve HTTPS with this certificate chain (PEM), with --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate for 127.0.0.1 and localhost signed by a private CA
    /// made at start: writes ca.pem (what a client passes as its CA file), server.pem
    /// and server.key into DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "tls_cert")]
    pub tls_generate: Option<PathBuf>,
    /// Refuse a wrong file_offset with this Graph code (and subcode), e.g. 6001,1363037,
    /// instead of code 100 naming the expected offset.
    #[arg(long, value_name = "CODE[,SUBCODE]", value_parser = parse_code)]
    pub offset_mismatch_code: Option<(i64, i64)>,
    /// Refuse the empty POST at file_length on a complete session instead of answering
    /// the handle again.
    #[arg(long)]
    pub refuse_final_empty_post: bool,
    /// Right after a cut, report one offset from before the cut request (a lagging read).
    #[arg(long)]
    pub lagging_offset: bool,
    /// Keep only requests that arrive whole: one cut short commits none of its bytes
    /// (as behind a buffering proxy).
    #[arg(long)]
    pub whole_requests_only: bool,
    /// How long a random stall lasts, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub stall_ms: u64,
}

/// `CODE` or `CODE,SUBCODE`.
fn parse_code(s: &str) -> Result<(i64, i64), String> {
    let (code, sub) = s.split_once(',').unwrap_or((s, "0"));
    match (code.trim().parse(), sub.trim().parse()) {
        (Ok(c), Ok(sc)) => Ok((c, sc)),
        _ => Err(format!(
            "'{s}': write CODE or CODE,SUBCODE, e.g. 6001,1363037"
        )),
    }
}

/// Runs the emulator as the command line asks, until SIGINT or SIGTERM.
pub fn run(args: Args) -> ExitCode {
    let storage = match (&args.store, args.discard) {
        (Some(dir), _) => Storage::Dir(dir.clone()),
        (None, true) => Storage::Discard {
            hash: !args.no_hash,
        },
        (None, false) => Storage::TempDir,
    };
    if let Some(rate) = args.random_faults {
        if !(0.0..=1.0).contains(&rate) {
            eprintln!("fbup-emulator: --random-faults takes a chance from 0 to 1, got {rate}");
            return ExitCode::from(2);
        }
    }
    let generated = match &args.tls_generate {
        Some(dir) => match crate::tls::generate(dir) {
            Ok(files) => Some(files),
            Err(e) => {
                eprintln!(
                    "fbup-emulator: cannot write a CA and a certificate into {}: {e}",
                    dir.display()
                );
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let config = Config {
        host: args.host,
        port: args.port,
        tokens: args.tokens,
        app_ids: args.app_ids,
        storage,
        any_type: args.any_type,
        offset_as_string: args.offset_as_string,
        session_ttl: Duration::from_secs(args.session_ttl),
        faults: args.faults,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(crate::TlsFiles { cert, key }),
            _ => generated,
        },
        unknowns: crate::Unknowns {
            offset_mismatch: args.offset_mismatch_code,
            refuse_final_empty_post: args.refuse_final_empty_post,
            lagging_offset: args.lagging_offset,
            whole_requests_only: args.whole_requests_only,
        },
        random_faults: args.random_faults.map(|rate| RandomFaults {
            seed: args.seed,
            rate,
            stall_ms: args.stall_ms,
        }),
    };
    let emulator = match Emulator::start(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("fbup-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "fbup-emulator listening on {}", emulator.url());
    let _ = out.flush();
    wait_for_signal();
    drop(emulator);
    ExitCode::SUCCESS
}

/// Blocks until SIGINT or SIGTERM, so that the emulator can clean up its temporary folder.
fn wait_for_signal() {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        loop {
            std::thread::park();
        }
    };
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match &mut term {
            Ok(term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    });
}
