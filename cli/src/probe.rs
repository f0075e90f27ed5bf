//! `fbup probe`: the library's experiments against a Graph, printed as lines or as one
//! JSON report, each answer with the `fbup emulate` option that reproduces it. The
//! emulator's option names live here, on the command's side, not in the library.

use fbup::{Answer, Config, Experiment, ProbeReport, Variant};

use crate::Failure;

/// The `fbup emulate` option that answers as `variant` does.
fn emulator_option(variant: &Variant) -> String {
    match variant {
        Variant::OffsetAsString => "--offset-as-string".into(),
        Variant::OffsetMismatchCode { code, subcode: 0 } => {
            format!("--offset-mismatch-code {code}")
        }
        Variant::OffsetMismatchCode { code, subcode } => {
            format!("--offset-mismatch-code {code},{subcode}")
        }
        Variant::RefusesFinalEmptyPost => "--refuse-final-empty-post".into(),
        Variant::WholeRequestsOnly => "--whole-requests-only".into(),
        other => format!("(no emulator option for {other:?})"),
    }
}

/// The emulator's option for an answer: "" for its default, `None` for none.
fn option_for(e: &Experiment) -> Option<String> {
    match &e.answer {
        Answer::Documented => Some(String::new()),
        Answer::Variant(v) => Some(emulator_option(v)),
        _ => None,
    }
}

/// Every option a report's variants need, each once, as words of a command line.
fn emulator_args(report: &ProbeReport) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    for v in report.variants() {
        let option = emulator_option(&v);
        let name = option.split(' ').next().unwrap_or("");
        if !args.iter().any(|a| a == name) {
            args.extend(option.split(' ').map(str::to_string));
        }
    }
    args
}

/// `fbup probe`: runs the experiments against `config`'s Graph and prints them.
pub(crate) fn run(json: bool, config: Config) -> Result<(), Failure> {
    let report = fbup::probe(&config).map_err(|e| Failure::from_error(&e))?;
    let args = emulator_args(&report);
    let mode = if args.is_empty() {
        "fbup emulate".to_string()
    } else {
        format!("fbup emulate {}", args.join(" "))
    };
    if json {
        return print_json(&config, &report, &args, &mode);
    }
    crate::out::result(&format!(
        "Probing {}/{} with a {}-byte PNG:",
        config.graph_url, config.api_version, report.file_length
    ))?;
    for (n, e) in report.experiments.iter().enumerate() {
        let answer = if e.http_status == 0 {
            "no answer".to_string()
        } else {
            format!("HTTP {}", e.http_status)
        };
        let mut error = String::new();
        if e.code != 0 {
            error = format!(
                ", code {}, subcode {}, type {}",
                e.code, e.subcode, e.error_type
            );
        }
        let option = match option_for(e) {
            Some(o) if o.is_empty() => "the emulator's default".to_string(),
            Some(o) => o,
            None => "no emulator option: please report this answer".to_string(),
        };
        crate::out::result(&format!(
            "{}. {}: {}\n   {answer}{error}: {}\n   {}\n   reproduced by: {option}",
            n + 1,
            e.name,
            e.request,
            e.shape,
            e.finding
        ))?;
    }
    crate::out::result(&format!("This Graph answers like: {mode}"))?;
    if report.unmatched() {
        crate::out::result("Some answers match no emulator option (see above).")?;
    }
    Ok(())
}

fn print_json(
    config: &Config,
    report: &ProbeReport,
    args: &[String],
    mode: &str,
) -> Result<(), Failure> {
    let experiments: Vec<_> = report
        .experiments
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": e.name,
                "request": e.request,
                "http_status": e.http_status,
                "code": e.code,
                "subcode": e.subcode,
                "type": e.error_type,
                "shape": e.shape,
                "finding": e.finding,
                "emulator": option_for(e),
            })
        })
        .collect();
    crate::out::result(&format!(
        "{}",
        serde_json::json!({
            "graph_url": config.graph_url,
            "api_version": config.api_version,
            "file_length": report.file_length,
            "experiments": experiments,
            "emulator_args": args,
            "emulate": mode,
            "unmatched": report.unmatched(),
        })
    ))
}
