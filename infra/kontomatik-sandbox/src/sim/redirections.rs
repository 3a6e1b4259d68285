//! The redirections' lifecycle: Fetch redirection, the status reads (with the poll limit,
//! lazy expiry and forgetting), and what the simulated user does on the hosted page.

use super::{
    bank, token, Acted, NewRedirection, Redirection, Session, Sim, SimError, Status, Time,
    UserAction, BANKS,
};

fn with_redirection_id(uri: &str, id: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("redirectionId", id);
            u.into()
        }
        Err(_) => uri.to_owned(),
    }
}

impl Sim {
    /// Applies lazy expiry and forgetting; the redirection as it is at `now`.
    fn live(&mut self, id: &str, now: Time) -> Result<&mut Redirection, SimError> {
        let window = self.config.status_window;
        let lifetime = self.config.link_lifetime;
        let r = self.redirections.get_mut(id).ok_or(SimError::NotFound)?;
        if now >= r.created_at + window {
            return Err(SimError::NotFound);
        }
        let expires = r.created_at + lifetime;
        if !r.status.is_final() && now >= expires {
            r.set_status(Status::Expired, expires);
        }
        Ok(r)
    }

    pub fn fetch_redirection(&mut self, req: NewRedirection, now: Time) -> Redirection {
        let id = token();
        let r = Redirection {
            id: id.clone(),
            redirect_uri: req.redirect_uri,
            owner_external_id: req.owner_external_id,
            language: req.language,
            country: req.country,
            access_mode: req.access_mode,
            created_at: now,
            status: Status::Initialized,
            status_changed_at: now,
            changes: 0,
            last_read_at: None,
            changes_at_last_read: 0,
        };
        self.redirections.insert(id, r.clone());
        r
    }

    /// The *Redirection status* endpoint: enforces the poll limit, counts the call.
    pub fn status(
        &mut self,
        id: &str,
        now: Time,
    ) -> Result<(Redirection, Option<Session>), SimError> {
        *self.counters.status_calls.entry(id.to_owned()).or_insert(0) += 1;
        let min = self.config.min_poll_interval;
        let r = self.live(id, now)?;
        if let Some(last) = r.last_read_at {
            let unchanged = r.changes == r.changes_at_last_read;
            if unchanged && now - last < min {
                let wait = (min - (now - last)).num_seconds().max(1) as u64;
                self.counters.rate_limited += 1;
                if self.lost_status_reads.get(id) == Some(&last) {
                    self.counters.rate_limited_after_lost_reply += 1;
                }
                return Err(SimError::RateLimited {
                    retry_after_secs: wait,
                });
            }
        }
        r.last_read_at = Some(now);
        r.changes_at_last_read = r.changes;
        let r = r.clone();
        let session = match &r.status {
            Status::Success { session_id } => self.sessions.get(session_id).cloned(),
            _ => None,
        };
        Ok((r, session))
    }

    /// The status read of `id` just handled had its answer lost (an injected fault).
    pub fn status_answer_lost(&mut self, id: &str) {
        if let Some(at) = self.redirections.get(id).and_then(|r| r.last_read_at) {
            self.lost_status_reads.insert(id.to_owned(), at);
        }
    }

    /// A read without side effects (for the hosted page and the admin view).
    pub fn peek(&mut self, id: &str, now: Time) -> Result<Redirection, SimError> {
        self.live(id, now).map(|r| r.clone())
    }

    /// What the simulated user does on the hosted page.
    pub fn act(
        &mut self,
        id: &str,
        action: UserAction,
        bank_id: Option<&str>,
        now: Time,
    ) -> Result<Acted, SimError> {
        let r = self.live(id, now)?;
        let back = with_redirection_id(&r.redirect_uri, &r.id);
        if r.status == Status::Expired {
            return Ok(Acted::LinkExpired { redirect_to: back });
        }
        if r.status.is_final() {
            return Ok(Acted::AlreadyFinished { redirect_to: back });
        }
        let (status, session) = match action {
            UserAction::Open => {
                if r.status == Status::Initialized {
                    r.set_status(Status::InProgress, now);
                }
                return Ok(Acted::Done { redirect_to: None });
            }
            UserAction::Succeed => {
                let session = Session {
                    id: token(),
                    signature: token(),
                    redirection_id: r.id.clone(),
                    bank: bank_id.and_then(bank).unwrap_or(&BANKS[0]),
                    owner_external_id: r.owner_external_id.clone(),
                    multiple_access_token: (r.access_mode != "single").then(token),
                    created_at: now,
                    command_id: None,
                    signed_out: false,
                };
                let status = Status::Success {
                    session_id: session.id.clone(),
                };
                (status, Some(session))
            }
            UserAction::FailLogin => (
                Status::Error {
                    code: "InvalidCredentials".into(),
                    message: "The bank did not accept the login or password.".into(),
                },
                None,
            ),
            UserAction::Cancel => (
                Status::Error {
                    code: "UserCancelled".into(),
                    message: "The user cancelled the sign-in.".into(),
                },
                None,
            ),
        };
        r.set_status(status, now);
        if let Some(session) = session {
            self.sessions.insert(session.id.clone(), session);
        }
        Ok(Acted::Done {
            redirect_to: Some(back),
        })
    }
}
