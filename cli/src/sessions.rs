//! `fbup sessions`: the journal's entries, with what Graph holds of each when a token
//! is at hand. Graph is the one this command is configured with (`--graph-url`,
//! `FBUP_GRAPH_URL`, its CA file and proxy), asked over one client: nothing read from
//! the journal decides where the token goes, and an entry recorded for another Graph
//! is listed as such without asking it.

use std::path::PathBuf;

use fbup::journal::{JournalEntry, Unreadable};
use fbup::{Client, Status};

use crate::args::Common;
use crate::out::{escaped, result};
use crate::{cli_message, Failure};

/// What Graph says of an entry's session.
enum Held {
    /// Not asked: no token.
    NoToken,
    /// Not asked: the entry was recorded for another Graph (its URL).
    OtherGraph(String),
    /// Asked: the bytes Graph holds, or why it could not say.
    Asked(Result<u64, String>),
}

/// Lists (and with `prune`, first prunes) the journal in `state_dir`.
pub(crate) fn run(
    state_dir: Option<PathBuf>,
    prune: bool,
    json: bool,
    common: &Common,
) -> Result<(), Failure> {
    let dir = state_dir.or_else(crate::default_state_dir).ok_or_else(|| {
        Failure::from_status(Status::Argument, "no journal folder: pass --state-dir")
    })?;
    let shown = escaped(&dir.display().to_string());
    if prune {
        let n = fbup::journal::prune(&dir);
        crate::out::err(&format!("fbup: pruned {n} entries"));
    }
    let client = client(common)?;
    let listing = fbup::journal::scan(&dir).map_err(|e| Failure::from_error(&e))?;
    if listing.entries.is_empty() && listing.unreadable.is_empty() {
        crate::out::err(&format!("fbup: no pending uploads in {shown}"));
    }
    for e in &listing.entries {
        let held = match &client {
            None => Held::NoToken,
            Some((c, url)) if !same_graph(&e.graph_url, url) => {
                Held::OtherGraph(e.graph_url.clone())
            }
            Some((c, _)) => Held::Asked(c.offset(&e.session_id).map_err(|err| cli_message(&err))),
        };
        result(&entry_line(e, &held, json))?;
    }
    for u in &listing.unreadable {
        result(&unreadable_line(u, json))?;
    }
    if !listing.unreadable.is_empty() {
        crate::out::err(&format!(
            "fbup: {} entries in {shown} cannot be read; fbup sessions --prune removes them",
            listing.unreadable.len()
        ));
    }
    Ok(())
}

/// The client that asks Graph, with its base URL; `None` without a token.
fn client(common: &Common) -> Result<Option<(Client, String)>, Failure> {
    let token = crate::token::read_token(common.token_file.as_deref())?;
    if token.is_empty() {
        return Ok(None);
    }
    // The app id is no part of the question (GET /{version}/{session-id}): `app`,
    // Graph's name for the token's app, stands in when none is given.
    let app_id = common.app_id.clone().unwrap_or_else(|| "app".into());
    let mut config = crate::graph_config(common, app_id, token);
    config.max_attempts = 1;
    let client = Client::new(&config).map_err(|e| Failure::from_error(&e))?;
    Ok(Some((client, config.graph_url)))
}

/// Two base URLs name the same Graph when they differ at most by a final slash.
fn same_graph(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One entry as a line: tab-separated fields, each escaped, or a JSON object.
fn entry_line(e: &JournalEntry, held: &Held, json: bool) -> String {
    let age = now_unix().saturating_sub(e.created_unix);
    if json {
        let mut o = serde_json::json!({
            "session_id": e.session_id,
            "file": e.file_path.display().to_string(),
            "file_length": e.file_size,
            "age_secs": age,
            "in_use": e.in_use,
        });
        match held {
            Held::Asked(Ok(off)) => o["file_offset"] = (*off).into(),
            Held::Asked(Err(m)) => o["offset_error"] = m.as_str().into(),
            Held::OtherGraph(url) => o["other_graph"] = url.as_str().into(),
            Held::NoToken => {}
        }
        return o.to_string();
    }
    let size = e.file_size;
    let held = match held {
        Held::Asked(Ok(off)) => format!("{off} of {size} bytes held by Graph"),
        Held::Asked(Err(m)) => format!("{size} bytes; Graph not reached: {}", escaped(m)),
        Held::OtherGraph(url) => format!(
            "{size} bytes; recorded for another Graph ({}), not asked",
            escaped(url)
        ),
        Held::NoToken => format!("{size} bytes (set FBUP_ACCESS_TOKEN to ask Graph)"),
    };
    format!(
        "{}\t{}\t{held}\t{age} s old{}",
        escaped(&e.session_id),
        escaped(&e.file_path.display().to_string()),
        if e.in_use { "\tin use" } else { "" }
    )
}

/// An entry that cannot be read, as a line or a JSON object.
fn unreadable_line(u: &Unreadable, json: bool) -> String {
    let path = u.path.display().to_string();
    if json {
        return serde_json::json!({ "entry": path, "unreadable": u.why }).to_string();
    }
    format!(
        "(unreadable)\t{}\tcannot be read: {}",
        escaped(&path),
        escaped(&u.why)
    )
}
