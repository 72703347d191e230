//! Approvals as the log tells them: what each one asks, the votes it has, and the rules
//! a vote must pass to count. The engine and `runbook approve` (when no engine holds the
//! run) judge a vote with the same function, so a vote is taken or refused alike
//! wherever it is given.

use std::collections::{BTreeMap, BTreeSet};

use super::facts::{Ask, Member, Settlement};
use crate::ast::TimeoutAction;

/// What the time allowed running out does to an approval, as the log will say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lapse {
    /// `escalate`: these roles may answer too, and it waits on without a limit.
    Escalate(Vec<String>),
    /// `abort` (false) or `continue` (true).
    Settle { approved: bool, by: Settlement },
}

/// One approval, from the wait that asked it to the event that settled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The gate's id, or `failure:CLASS` for a failure policy's approval: the name a
    /// person answers to.
    pub node: String,
    pub ask: Ask,
    /// When it was first asked: `within` counts from here, across pauses and resumes.
    pub asked_ms: u64,
    /// Its time ran out and it was escalated (`on timeout escalate`): it waits on
    /// without a limit.
    pub timed_out: bool,
    /// Roles added by the escalation.
    pub escalated: Vec<String>,
    pub votes: Vec<Vote>,
    /// `Some(true)` approved, `Some(false)` rejected.
    pub settled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub person: String,
    pub role: String,
    pub approve: bool,
    pub reason: Option<String>,
}

/// Why a vote does not count. The messages are shown to the person and logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("`{person}` is not in the run's roster")]
    Unknown { person: String },
    #[error("`{person}` holds {held}, and {what} asks for {asked}")]
    WrongRole {
        person: String,
        held: String,
        /// "this approval", "skipping this pause".
        what: &'static str,
        asked: String,
    },
    #[error("`{person}` has already voted on this approval")]
    AlreadyVoted { person: String },
    #[error("`{person}` started, resumed or answered for this run, and this approval asks that nobody who did approve it (`distinct`)")]
    RanIt { person: String },
    #[error("this run has no roster, so nobody can be shown to hold the commander's role")]
    NoRoster,
}

impl Refusal {
    /// The help line shown under the refusal.
    pub fn help(&self) -> &'static str {
        match self {
            Refusal::Unknown { .. } => {
                "give your login as the roster names it, or ask for the roster to be updated before the next run (a run keeps the roster it started with)"
            }
            Refusal::WrongRole { .. } => "ask someone who holds one of the roles asked",
            Refusal::AlreadyVoted { .. } => "each person votes once; a quorum needs as many different people",
            Refusal::RanIt { .. } => "separation of duties: ask someone who took no part in the run",
            Refusal::NoRoster => "name a roster in the runbook's header (`roster \"roster.toml\"`); until then the pause ends at its time",
        }
    }
}

impl Approval {
    /// Every role whose holders may vote: those asked, then any escalated to.
    pub fn roles(&self) -> impl Iterator<Item = &String> + Clone {
        self.ask.roles.iter().chain(&self.escalated)
    }

    pub fn approvals(&self) -> usize {
        self.votes.iter().filter(|vote| vote.approve).count()
    }

    /// When `within` runs out, by the run's clock; none once it has (and was escalated).
    pub fn deadline_ms(&self) -> Option<u64> {
        if self.timed_out {
            return None;
        }
        self.ask
            .within_ms
            .map(|within| self.asked_ms.saturating_add(within))
    }

    /// What its time having run out at `now_ms` does, if it has and nothing was done
    /// about it yet. The engine and `runbook approve` both apply it before they take a
    /// vote, so a vote given after the time allowed counts only as `on timeout` says.
    pub fn lapse(&self, now_ms: u64) -> Option<Lapse> {
        let deadline = self.deadline_ms()?;
        if now_ms < deadline || self.settled.is_some() {
            return None;
        }
        Some(
            match self.ask.on_timeout.unwrap_or(TimeoutAction::Escalate) {
                TimeoutAction::Escalate => Lapse::Escalate(
                    self.ask
                        .escalate_to
                        .iter()
                        .filter(|role| !self.ask.roles.contains(role))
                        .cloned()
                        .collect(),
                ),
                TimeoutAction::Abort => Lapse::Settle {
                    approved: false,
                    by: Settlement::Timeout,
                },
                TimeoutAction::Continue => Lapse::Settle {
                    approved: true,
                    by: Settlement::Timeout,
                },
            },
        )
    }

    /// The fact that records a lapse.
    pub fn lapse_fact(unit: &str, lapse: Lapse) -> super::facts::Fact {
        match lapse {
            Lapse::Escalate(roles) => super::facts::Fact::Escalated {
                unit: unit.to_string(),
                roles,
            },
            Lapse::Settle { approved, by } => super::facts::Fact::ApprovalSettled {
                unit: unit.to_string(),
                approved,
                by,
            },
        }
    }

    /// Still taking votes: not settled, and not yet decided by the votes it has.
    pub fn is_open(&self) -> bool {
        self.settled.is_none() && self.tally().is_none()
    }

    /// What the votes so far decide: one rejection rejects, a quorum approves.
    pub fn tally(&self) -> Option<bool> {
        if self.votes.iter().any(|vote| !vote.approve) {
            return Some(false);
        }
        let quorum = usize::try_from(self.ask.quorum).unwrap_or(usize::MAX);
        (self.approvals() >= quorum).then_some(true)
    }

    /// Whether `person` may vote, and for which role. `ran` holds everyone who started,
    /// resumed or answered for the run; `roster` is the run's.
    pub fn judge(
        &self,
        person: &str,
        roster: &BTreeMap<String, Member>,
        ran: &BTreeSet<String>,
    ) -> Result<String, Refusal> {
        let role = holder(person, roster, self.roles(), "this approval")?;
        if self.votes.iter().any(|vote| vote.person == person) {
            return Err(Refusal::AlreadyVoted {
                person: person.to_string(),
            });
        }
        if self.ask.distinct && ran.contains(person) {
            return Err(Refusal::RanIt {
                person: person.to_string(),
            });
        }
        Ok(role)
    }

    /// The request as people read it: `2 of [commander, dba]`, with the votes so far.
    pub fn describe(&self) -> String {
        let roles: Vec<&str> = self.roles().map(String::as_str).collect();
        let mut text = if self.ask.quorum == 1 && roles.len() == 1 {
            format!("approval by {}", roles[0])
        } else {
            format!("approval by {} of [{}]", self.ask.quorum, roles.join(", "))
        };
        if self.ask.distinct {
            text.push_str(", distinct");
        }
        let given: Vec<&str> = self
            .votes
            .iter()
            .filter(|vote| vote.approve)
            .map(|vote| vote.person.as_str())
            .collect();
        if !given.is_empty() {
            text.push_str(&format!(
                " ({} of {} so far: {})",
                given.len(),
                self.ask.quorum,
                given.join(", ")
            ));
        }
        text
    }
}

/// The first of `roles` that `person` holds in `roster`, or why they may not answer.
pub fn holder<'r>(
    person: &str,
    roster: &BTreeMap<String, Member>,
    roles: impl Iterator<Item = &'r String> + Clone,
    what: &'static str,
) -> Result<String, Refusal> {
    let Some(member) = roster.get(person) else {
        return Err(Refusal::Unknown {
            person: person.to_string(),
        });
    };
    match roles.clone().find(|role| member.roles.contains(role)) {
        Some(role) => Ok(role.clone()),
        None => Err(Refusal::WrongRole {
            person: person.to_string(),
            held: match member.roles.as_slice() {
                [] => "no role".to_string(),
                held => quoted(held.iter()),
            },
            what,
            asked: quoted(roles),
        }),
    }
}

fn quoted<'a>(roles: impl Iterator<Item = &'a String>) -> String {
    roles
        .map(|role| format!("`{role}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster() -> BTreeMap<String, Member> {
        let member = |roles: &[&str]| Member {
            name: None,
            roles: roles.iter().map(|role| role.to_string()).collect(),
        };
        BTreeMap::from([
            ("alice".to_string(), member(&["commander"])),
            ("bao".to_string(), member(&["commander", "dba"])),
            ("chen".to_string(), member(&["dba"])),
            ("dev".to_string(), member(&["executor"])),
        ])
    }

    fn approval(quorum: u64, roles: &[&str], distinct: bool) -> Approval {
        Approval {
            node: "go".to_string(),
            ask: Ask {
                roles: roles.iter().map(|role| role.to_string()).collect(),
                quorum,
                distinct,
                within_ms: None,
                on_timeout: None,
                escalate_to: None,
            },
            asked_ms: 0,
            timed_out: false,
            escalated: Vec::new(),
            votes: Vec::new(),
            settled: None,
        }
    }

    fn vote(approval: &mut Approval, person: &str, approve: bool) -> Result<(), Refusal> {
        let role = approval.judge(person, &roster(), &BTreeSet::from(["dev".to_string()]))?;
        approval.votes.push(Vote {
            person: person.to_string(),
            role,
            approve,
            reason: None,
        });
        Ok(())
    }

    #[test]
    fn a_quorum_needs_as_many_different_people() {
        let mut gate = approval(2, &["commander", "dba"], false);
        vote(&mut gate, "alice", true).expect("alice holds commander");
        assert_eq!(gate.tally(), None);
        assert_eq!(
            vote(&mut gate, "alice", true),
            Err(Refusal::AlreadyVoted {
                person: "alice".to_string()
            })
        );
        vote(&mut gate, "chen", true).expect("chen holds dba");
        assert_eq!(gate.tally(), Some(true));
        assert_eq!(gate.votes[1].role, "dba");
    }

    #[test]
    fn one_rejection_rejects() {
        let mut gate = approval(2, &["commander", "dba"], false);
        vote(&mut gate, "alice", true).expect("counts");
        vote(&mut gate, "bao", false).expect("counts");
        assert_eq!(gate.tally(), Some(false));
    }

    #[test]
    fn strangers_wrong_roles_and_those_who_ran_it_are_refused() {
        let mut gate = approval(1, &["commander"], true);
        assert!(matches!(
            vote(&mut gate, "mallory", true),
            Err(Refusal::Unknown { .. })
        ));
        let wrong = vote(&mut gate, "chen", true).expect_err("chen holds dba only");
        assert_eq!(
            wrong.to_string(),
            "`chen` holds `dba`, and this approval asks for `commander`"
        );
        let mut executors = approval(1, &["executor"], true);
        assert!(matches!(
            vote(&mut executors, "dev", true),
            Err(Refusal::RanIt { .. })
        ));
        let mut not_distinct = approval(1, &["executor"], false);
        vote(&mut not_distinct, "dev", true).expect("no separation asked");
        assert!(gate.votes.is_empty());
    }

    #[test]
    fn an_escalation_lets_the_roles_it_adds_vote() {
        let mut gate = approval(1, &["dba"], false);
        assert!(vote(&mut gate, "alice", true).is_err());
        gate.escalated.push("commander".to_string());
        vote(&mut gate, "alice", true).expect("escalated to the commander");
        assert_eq!(gate.tally(), Some(true));
        assert_eq!(
            gate.describe(),
            "approval by 1 of [dba, commander] (1 of 1 so far: alice)"
        );
    }
}
