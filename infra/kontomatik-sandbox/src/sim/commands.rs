//! The commands: Default Import (once per session, within the jobs quota), the command's
//! status poll by poll, sign-out, and the owner data kept from a successful import.

use chrono::NaiveDate;

use super::{Command, CommandView, ImportOutcome, OwnerData, Sim, SimError, Time};

impl Sim {
    /// *Default Import*: once per session, ever.
    pub fn default_import(
        &mut self,
        session_id: &str,
        signature: &str,
        since: NaiveDate,
        now: Time,
    ) -> Result<u64, SimError> {
        let lifetime = self.config.session_lifetime;
        let running = self
            .commands
            .values()
            .filter(|c| c.running(&self.config, now))
            .count();
        let quota_full = self
            .config
            .jobs_quota
            .is_some_and(|quota| running >= quota as usize);
        let s = self
            .sessions
            .get_mut(session_id)
            .filter(|s| s.signature == signature && !s.signed_out)
            .ok_or(SimError::InvalidSession)?;
        if s.command_id.is_some() {
            self.counters.duplicate_imports += 1;
            return Err(SimError::AlreadyExecuted);
        }
        if now >= s.created_at + lifetime {
            return Err(SimError::SessionExpired);
        }
        if quota_full {
            self.counters.jobs_quota_refusals += 1;
            return Err(SimError::JobsQuotaExceeded);
        }
        self.next_command += 1;
        let id = self.next_command;
        s.command_id = Some(id);
        let outcome = s.bank.import;
        self.commands.insert(
            id,
            Command {
                id,
                session_id: session_id.to_owned(),
                polls: 0,
                outcome,
                created_at: now,
                since,
            },
        );
        self.counters.imports_started += 1;
        Ok(id)
    }

    /// *Default Import* without the user (provisional): the multiple-access token a
    /// multiple-access sign-in of `owner` gave, while that access lasts (90 days), starts an
    /// import of the same bank as a session of its own.
    pub fn import_with_access(
        &mut self,
        access_token: &str,
        owner: &str,
        since: NaiveDate,
        now: Time,
    ) -> Result<u64, SimError> {
        let granted = self
            .sessions
            .values()
            .find(|s| {
                s.multiple_access_token.as_deref() == Some(access_token)
                    && s.owner_external_id.as_deref() == Some(owner)
            })
            .cloned()
            .ok_or(SimError::InvalidSession)?;
        if now >= granted.created_at + chrono::Duration::days(90) {
            return Err(SimError::SessionExpired);
        }
        let running = self
            .commands
            .values()
            .filter(|c| c.running(&self.config, now))
            .count();
        if self
            .config
            .jobs_quota
            .is_some_and(|quota| running >= quota as usize)
        {
            self.counters.jobs_quota_refusals += 1;
            return Err(SimError::JobsQuotaExceeded);
        }
        self.next_command += 1;
        let id = self.next_command;
        let session_id = super::token();
        self.sessions.insert(
            session_id.clone(),
            super::Session {
                id: session_id.clone(),
                signature: super::token(),
                multiple_access_token: None,
                created_at: now,
                command_id: Some(id),
                signed_out: false,
                ..granted.clone()
            },
        );
        self.commands.insert(
            id,
            Command {
                id,
                session_id,
                polls: 0,
                outcome: granted.bank.import,
                created_at: now,
                since,
            },
        );
        self.counters.access_imports += 1;
        Ok(id)
    }

    /// *Get import result*: the command moves on by one step per poll. Commands are the API
    /// user's own: the id is enough (no session in the request).
    pub fn command_status(
        &mut self,
        id: u64,
        seed: u64,
        now: Time,
    ) -> Result<CommandView, SimError> {
        let needed = self.config.import_polls.max(1);
        let c = self
            .commands
            .get_mut(&id)
            .ok_or(SimError::CommandNotFound)?;
        let session = self
            .sessions
            .get(&c.session_id)
            .cloned()
            .ok_or(SimError::CommandNotFound)?;
        c.polls += 1;
        // How far the command is: by time at Kontomatik, or by polls.
        let (done, progress) = match self.config.import_time {
            Some(t) => {
                let spent = (now - c.created_at).num_milliseconds().max(0) as u128;
                let whole = t.num_milliseconds().max(1) as u128;
                (spent >= whole, (spent.min(whole) * 100 / whole) as u8)
            }
            None => (
                c.polls >= needed,
                ((c.polls.min(needed) * 100) / needed) as u8,
            ),
        };
        let setup = match self.config.import_time {
            Some(_) => c.polls == 1 && !done,
            None => c.polls == 1 && needed > 1,
        };
        let mut view = CommandView {
            id,
            state: "in_progress",
            progress,
            data_seed: None,
            exception: None,
            bank: session.bank,
            owner_external_id: session.owner_external_id.clone(),
            as_of: c.created_at,
            since: c.since,
        };
        if setup {
            view.state = "setup";
            view.progress = 0;
        } else if done {
            match c.outcome {
                ImportOutcome::Successful => {
                    view.state = "successful";
                    // Recorded: a successful command's progress can say 0.
                    view.progress = 0;
                    view.data_seed = Some(seed ^ id);
                }
                ImportOutcome::Error => {
                    view.state = "error";
                    view.exception = Some((
                        "BankTemporarilyUnavailable",
                        "The bank did not answer during the import.",
                    ));
                }
                ImportOutcome::Fatal => {
                    view.state = "fatal";
                    view.exception = Some(("ImportFailed", "The import could not be completed."));
                }
                ImportOutcome::Stuck => view.progress = 99,
            }
        } else {
            view.progress = view.progress.min(99);
        }
        if let (Some(data_seed), Some(owner)) = (view.data_seed, view.owner_external_id.clone()) {
            let created_at = self.owner_data.get(&owner).map_or(now, |d| d.created_at);
            let fresher = self
                .owner_data
                .get(&owner)
                .is_none_or(|d| d.command_id <= id);
            if fresher {
                self.owner_data.insert(
                    owner,
                    OwnerData {
                        command_id: id,
                        data_seed,
                        bank: session.bank,
                        since: view.since,
                        created_at,
                        updated_at: view.as_of,
                    },
                );
            }
        }
        Ok(view)
    }

    /// A fresh command id (for commands that finish at once, like sign-out).
    pub fn next_command_id(&mut self) -> u64 {
        self.next_command += 1;
        self.next_command
    }

    /// *Sign out*: ends the session (some targets cannot).
    pub fn sign_out(&mut self, session_id: &str, signature: &str) -> Result<(), SimError> {
        let s = self
            .sessions
            .get_mut(session_id)
            .filter(|s| s.signature == signature && !s.signed_out)
            .ok_or(SimError::InvalidSession)?;
        if !s.bank.sign_out {
            self.counters.sign_outs_unavailable += 1;
            return Err(SimError::CommandNotAvailable);
        }
        s.signed_out = true;
        self.counters.sign_outs += 1;
        Ok(())
    }

    /// The data kept for an owner.
    pub fn owner_data(&mut self, owner: &str) -> Result<OwnerData, SimError> {
        self.counters.owner_data_reads += 1;
        self.owner_data
            .get(owner)
            .cloned()
            .ok_or(SimError::OwnerNotFound)
    }

    /// Removes what is kept for an owner.
    pub fn delete_owner_data(&mut self, owner: &str) -> Result<(), SimError> {
        self.counters.owner_data_deletes += 1;
        self.owner_data
            .remove(owner)
            .map(|_| ())
            .ok_or(SimError::OwnerNotFound)
    }
}
