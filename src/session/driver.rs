//! The one retry driver of create, offset and upload: after a failed request, a new
//! token, a wait (slept in slices, so that a cancel is seen at once), or the error
//! that ends the call. `retry.rs` decides; this carries the decision out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Field, Status, Step, Words};
use crate::event::Event;
use crate::graph::RequestError;
use crate::info::Stats;
use crate::plan::Plan;
use crate::retry::{classify, Action, Budget};
use crate::trace::Level;

use super::words::to_error;
use crate::graph::Interrupt;

/// How long a wait sleeps at most before it looks at the cancel flag again.
const SLICE: Duration = Duration::from_millis(50);

/// How many times a connection refused by an address that never answered is tried,
/// and the wait between the tries.
const FIRST_CONTACT_TRIES: u32 = 2;
const FIRST_CONTACT_WAIT: Duration = Duration::from_millis(250);

/// Why a driven call stops.
#[derive(Debug)]
pub(super) enum Halt {
    /// The caller cancelled.
    Cancelled,
    /// The error that ends the call.
    Failed(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Halt {
        Halt::Failed(e)
    }
}

/// The budget of one call and what carrying out a retry needs.
pub(super) struct Driver {
    budget: Budget,
    /// Connections refused so far by an address that never answered (see
    /// [`Driver::first_contact_refused`]).
    refused_first: u32,
    plan: Plan,
    cancel: Arc<Interrupt>,
    stats: Arc<Stats>,
}

impl Driver {
    /// A driver for one call with the plan's retry policy.
    pub fn new(plan: &Plan, cancel: Arc<Interrupt>, stats: Arc<Stats>) -> Driver {
        Driver {
            budget: Budget::new(&plan.retry),
            refused_first: 0,
            plan: plan.clone(),
            cancel,
            stats,
        }
    }

    /// True when the caller cancelled.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Graph's offset advanced: the budgets start again.
    pub fn progressed(&mut self) {
        self.budget.progressed();
    }

    /// Counts a failed attempt that needs no wait; false when the attempts are spent.
    pub fn count(&mut self) -> bool {
        self.budget.count()
    }

    /// After request `e` at `step` failed: refreshes the token, or waits before the
    /// next try, or says why there is none. `session_id` ("" before there is one)
    /// goes into the error's advice.
    pub fn recover(&mut self, e: RequestError, step: Step, session_id: &str) -> Result<(), Halt> {
        let verdict = classify(&e);
        if verdict.action == Action::Reauthenticate {
            return self.refresh_token(e, step, session_id);
        }
        if matches!(e, RequestError::Refused(_))
            && session_id.is_empty()
            && !crate::graph::has_answered(&self.plan.endpoint.authority)
        {
            return self.first_contact_refused(e, step);
        }
        let wait = match self.budget.next_wait(&verdict, e.wait_hint()) {
            Ok(wait) => wait,
            Err(why) => return Err(to_error(e, verdict.status, step, why, session_id).into()),
        };
        self.retrying(wait, &e, verdict.rule);
        self.sleep(wait)
    }

    /// A connection refused before any session exists, by a Graph address that has
    /// never answered in this process: most likely a wrong address or a server that is
    /// not running, so one quick try more, then the error (a waiting retry policy is for
    /// a Graph that was there; once a session exists, the usual rules apply).
    fn first_contact_refused(&mut self, e: RequestError, step: Step) -> Result<(), Halt> {
        self.refused_first += 1;
        if self.refused_first >= FIRST_CONTACT_TRIES || !self.budget.count() {
            let why = Words::default().text(format!(
                "a connection refused by an address that has not answered in this process \
                 is tried {FIRST_CONTACT_TRIES} times, not retried for long: check the Graph \
                 URL and that its server runs"
            ));
            return Err(to_error(e, Status::Network, step, why, "").into());
        }
        let rule =
            "a connection refused by an address that has not answered yet: one quick try more";
        self.retrying(FIRST_CONTACT_WAIT, &e, rule);
        self.sleep(FIRST_CONTACT_WAIT)
    }

    /// Sleeps `wait` in slices, returning early when the caller cancels.
    fn sleep(&self, wait: Duration) -> Result<(), Halt> {
        let deadline = Instant::now() + wait;
        loop {
            if self.cancelled() {
                return Err(Halt::Cancelled);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(SLICE));
        }
    }

    /// Graph refused the token: ask the plan's token holder for a new one.
    fn refresh_token(&mut self, e: RequestError, step: Step, session_id: &str) -> Result<(), Halt> {
        let rule = classify(&e).rule;
        let fail = |e, why: Words| Err(to_error(e, Status::Auth, step, why, session_id).into());
        if !self.plan.token.can_refresh() {
            return fail(e, Words::default().text(rule));
        }
        if !self.budget.count() {
            let why = Words::default()
                .text("token refused again after refreshes; gave up (")
                .name(Field::MaxAttempts)
                .text(")");
            return fail(e, why);
        }
        let trace = &self.plan.trace;
        trace.log(Level::Warning, || {
            format!("Graph refused the token ({e}): asking the token callback for a new one")
        });
        if !self.plan.token.refresh() {
            let why = "token refused (code 190) and the token callback gave no new token";
            return fail(e, Words::default().text(why));
        }
        trace.log(Level::Info, || {
            "got a new token: trying again with it".into()
        });
        Ok(())
    }

    /// Reports (and counts) a retry the budget just granted.
    fn retrying(&self, wait: Duration, e: &RequestError, rule: &str) {
        let (attempt, max_attempts) = (self.budget.failures(), self.budget.max_attempts());
        self.plan.trace.log(Level::Warning, || {
            format!(
                "retry: attempt {attempt} of {max_attempts} failed ({e}); rule: {rule}; waiting {} ms",
                wait.as_millis()
            )
        });
        Stats::add(&self.stats.retries, 1);
        Stats::add(
            &self.stats.wait_us,
            wait.as_micros().min(u64::MAX as u128) as u64,
        );
        self.plan.emit(|| Event::Retry {
            attempt,
            max_attempts,
            wait,
            reason: e.to_string(),
        });
    }
}
