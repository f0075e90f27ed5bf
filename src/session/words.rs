//! The Engine's error wording: what failed, what the server said, the rule that
//! decided, and what to do next.

use crate::error::{Error, Field, Status, Step, Words};
use crate::graph::{error_detail, RequestError};

use super::ledger::graph_forgot;

/// The public error for a request error at `step`: what failed, what the server said,
/// the rule that decided, and what to do next (resuming `session_id`, when there is
/// one).
pub(super) fn to_error(
    e: RequestError,
    status: Status,
    step: Step,
    rule: Words,
    session_id: &str,
) -> Error {
    let http_status = e.http_status();
    let then = if session_id.is_empty() {
        "try again".to_string()
    } else {
        format!("resume session {session_id}")
    };
    let certificate = matches!(e, RequestError::Certificate(_));
    let advice = match status {
        // Trying again cannot help; trusting the right CA can.
        _ if certificate => String::new(),
        Status::Auth => format!("get a new access token, then {then}"),
        Status::Throttled => format!("Graph is throttling this app: wait, then {then}"),
        Status::Network | Status::Timeout => format!("check the network, then {then}"),
        Status::Protocol => "the server's answer is outside the Resumable Upload API".into(),
        _ => String::new(),
    };
    let (graph, detail) = match e {
        RequestError::Graph { error, .. } => {
            let d = error_detail(&error, http_status);
            (Some(Box::new(error)), d)
        }
        other => (None, other.to_string()),
    };
    let mut message = String::new();
    let lost_header = graph.as_ref().is_some_and(|g| {
        let m = g.message.to_ascii_lowercase();
        m.contains("file_offset") && (m.contains("required") || m.contains("missing"))
    });
    if lost_header {
        // fbup always sends it: something on the way removed it.
        message.push_str(
            "; the file_offset header did not reach Graph: a proxy on the way may drop headers \
             with underscores (nginx does by default)",
        );
    }
    if !advice.is_empty() {
        message.push_str("; ");
        message.push_str(&advice);
    }
    let mut words = Words::default()
        .text(format!("{}: {detail} (rule: ", step.failed()))
        .then(rule)
        .text(format!("){message}"));
    if certificate {
        words = words
            .text("; for a server whose certificate a private CA signed, give that CA's certificate as ")
            .name(Field::CaFile);
    }
    let mut out = Error::from_words(status, words).at(step);
    out.http_status = http_status;
    out.graph = graph;
    out
}

/// A resume of a session Graph no longer knows: a Graph error that says so.
pub(super) fn unknown_session(e: Error, session_id: &str) -> Error {
    if !graph_forgot(&e) {
        return e;
    }
    let mut out = e.framed(
        Words::default().text(format!(
            "Graph does not know session {session_id}: it is unknown or has expired ("
        )),
        Words::default().text("); start a new upload of the file"),
    );
    out.status = Status::Graph;
    out
}

/// A create Graph refused for what fbup sent it: the file type (Graph's own words
/// kept, with the list of types it gives), or the app (`nonexisting field (uploads) on
/// node type (Application)`: a wrong id, or a token whose user has no role on the app).
pub(super) fn refused_create(e: Error, file_type: &str) -> Error {
    let Some(said) = e.graph.as_ref().map(|g| g.message.to_ascii_lowercase()) else {
        return e;
    };
    let advice = if said.contains("file_type") {
        Words::default()
            .text(format!(
                "; Graph does not take the file type {file_type} here (its words above): give "
            ))
            .name(Field::FileType)
            .text(" as one of the types Graph lists, or convert the file")
    } else if said.contains("nonexisting field (uploads)") {
        Words::default()
            .text("; Graph knows no app by that id for this token: check ")
            .name(Field::AppId)
            .text(
                " (or use `app`, Graph's name for the token's app), and that the token's user \
                 has a role on the app (administrator, developer or tester)",
            )
    } else {
        return e;
    };
    e.framed(Words::default(), advice)
}

/// A cancelled call: what Graph held when last asked, and how to go on.
pub(super) fn cancelled(session_id: &str, held: Option<u64>, total: u64) -> Error {
    if session_id.is_empty() {
        return Error::new(
            Status::Cancelled,
            "cancelled before Graph gave an upload session; nothing to resume",
        )
        .at(Step::Create);
    }
    let held = match held {
        Some(n) => format!("Graph held {n} of {total} bytes when last asked"),
        None => format!("Graph was not asked how many of the {total} bytes it holds"),
    };
    Error::new(
        Status::Cancelled,
        format!("upload cancelled; {held}. Resume session {session_id} to go on"),
    )
}

/// Graph holds every byte of `total`, but the empty POST that asked for the handle
/// again failed (`why`, or an answer without `h`).
pub(super) fn handle_lost(total: u64, why: Option<RequestError>) -> Error {
    let detail = match &why {
        Some(e) => e.to_string(),
        None => "Graph answered without a handle".into(),
    };
    let mut e = Error::new(
        Status::HandleLost,
        format!(
            "every byte of the file ({total} bytes) reached Graph, but the answer carrying the \
             handle was lost and asking again failed ({detail}); upload the file again, in a \
             new session"
        ),
    )
    .at(Step::Upload);
    if let Some(RequestError::Graph {
        http_status, error, ..
    }) = why
    {
        e.http_status = http_status;
        e.graph = Some(Box::new(error));
    }
    e
}
