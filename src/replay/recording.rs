//! A recorded run read back as what the world gave it: how each command ended and what
//! it printed, what each probe read, who answered what and when, how each message's
//! delivery went, and where the engine stopped. A replay feeds these to the engine in
//! place of the world; each is taken once, in the order the run took it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::engine::facts::{Decision, ExitRecord, Fact, Phase, RunStarted};
use crate::engine::inbox::Answer;
use crate::engine::run_wave_key;
use crate::store::{Actor, Event};

/// Why a log cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum Unreplayable {
    #[error("the log does not begin with the run's start")]
    NoStart,
    #[error("event {seq} (`{kind}`) is not one this build knows: {why}")]
    Unknown { seq: u64, kind: String, why: String },
}

/// A command by its place in the run: the unit, its phase, the action, the attempt.
type CommandKey = (String, Phase, usize, u32);

/// How one command went.
#[derive(Debug, Clone)]
pub struct RecordedCommand {
    /// `None`: the engine died while it ran.
    pub exit: Option<ExitRecord>,
    pub duration_ms: u64,
    pub finished_ms: u64,
    /// Its output as the log holds it: each piece with its stream.
    pub pieces: Vec<(String, String)>,
    /// The log held only the first part of it.
    pub truncated: bool,
}

/// The probe values read at one moment for one unit (a gate's poll, a watch's
/// interval, the baseline).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub at_ms: u64,
    pub values: BTreeMap<String, f64>,
    pub unreadable: BTreeMap<String, String>,
}

/// One answer a person gave while the engine ran.
#[derive(Debug, Clone)]
pub struct RecordedAnswer {
    pub at_ms: u64,
    pub answer: Answer,
    pub actor: Actor,
}

/// How one message's delivery went.
#[derive(Debug, Clone)]
pub struct RecordedDelivery {
    pub at_ms: u64,
    pub ok: bool,
    pub attempts: u32,
    pub detail: String,
}

/// When a replay stops its engine as the recorded one was stopped: an interrupt that
/// let running commands end, one that stopped them, or the engine dying outright.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stops {
    pub no_new_work_at: Option<u64>,
    pub kill_at: Option<u64>,
    /// The last event the recorded engine wrote before it died.
    pub die_after: Option<u64>,
}

/// One engine's stretch of the run: from its start or a resume to where it stopped,
/// then what people added while no engine ran.
#[derive(Debug, Clone)]
pub struct Segment {
    pub began_ms: u64,
    /// Who resumed it (`None` for the first stretch, or a resume by nobody named).
    pub resumed_by: Option<String>,
    /// The edited runbook a resume took (`--accept-changes`).
    pub accepted_source: Option<String>,
    /// Whether the engine waited for people (`--wait`) or paused at the first wait.
    pub waits_for_people: bool,
    pub stops: Stops,
    /// Events appended while no engine ran: answers given to the stopped run.
    pub between: Vec<Event>,
    /// The hosts its engine reached over SSH, as logged: the replay logs the same.
    pub remote: Option<crate::executor::RemoteAccess>,
}

/// A recorded run, ready to be replayed.
#[derive(Debug)]
pub struct Recording {
    pub started: RunStarted,
    pub events: Vec<Event>,
    pub segments: Vec<Segment>,
    /// The segment being replayed now.
    current: Cell<usize>,
    commands: HashMap<CommandKey, RecordedCommand>,
    readings: RefCell<Queues<String, Reading>>,
    answers: RefCell<Queues<String, RecordedAnswer>>,
    deliveries: RefCell<Queues<(String, String), RecordedDelivery>>,
}

/// Outcomes by what asks for them, each with the segment it came in, taken in order.
/// A segment takes only its own: one the replay's engine took before it died where the
/// recorded one had not come to it is left behind, and its next segment asks again.
#[derive(Debug)]
struct Queues<K, T> {
    by_key: HashMap<K, VecDeque<(usize, T)>>,
}

impl<K, T> Default for Queues<K, T> {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq, T: Clone> Queues<K, T> {
    fn push(&mut self, key: K, segment: usize, outcome: T) {
        self.by_key
            .entry(key)
            .or_default()
            .push_back((segment, outcome));
    }

    /// The next outcome for `key` in `segment`, without taking it; earlier segments'
    /// leftovers are dropped.
    fn peek<Q>(&mut self, key: &Q, segment: usize) -> Option<T>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let queue = self.by_key.get_mut(key)?;
        while queue.front().is_some_and(|(came_in, _)| *came_in < segment) {
            queue.pop_front();
        }
        queue
            .front()
            .filter(|(came_in, _)| *came_in == segment)
            .map(|(_, outcome)| outcome.clone())
    }

    fn take<Q>(&mut self, key: &Q, segment: usize) -> Option<T>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let outcome = self.peek(key, segment)?;
        if let Some(queue) = self.by_key.get_mut(key) {
            queue.pop_front();
        }
        Some(outcome)
    }
}

/// The reading key of the baseline, which is read once for the whole run.
pub const BASELINE: &str = "baseline";

impl Recording {
    /// Reads a verified log.
    pub fn of(events: Vec<Event>) -> Result<Self, Unreplayable> {
        let facts = events
            .iter()
            .map(|event| {
                Fact::of(event).ok_or_else(|| Unreplayable::Unknown {
                    seq: event.seq,
                    kind: event.kind.clone(),
                    why: "its payload does not read as that kind".to_string(),
                })
            })
            .collect::<Result<Vec<Fact>, Unreplayable>>()?;
        let Some(Fact::RunStarted(started)) = facts.first() else {
            return Err(Unreplayable::NoStart);
        };
        let started = (**started).clone();
        let simulated = started.drill.as_ref().is_some_and(|drill| drill.simulated);
        let mut recording = Self {
            started,
            segments: segments(&events, &facts, simulated),
            current: Cell::new(0),
            commands: HashMap::new(),
            readings: RefCell::default(),
            answers: RefCell::default(),
            deliveries: RefCell::default(),
            events: Vec::new(),
        };
        recording.gather(&events, &facts);
        recording.events = events;
        Ok(recording)
    }

    /// The outcomes each kind of event records, by what the engine asks for them.
    fn gather(&mut self, events: &[Event], facts: &[Fact]) {
        let mut readings = ReadingsBuilder::default();
        let mut waits: HashMap<String, String> = HashMap::new();
        // The command each unit runs now, whose output follows.
        let mut running: HashMap<String, CommandKey> = HashMap::new();
        let mut engine_runs = false;
        let mut segment = 0;
        for (event, fact) in events.iter().zip(facts) {
            readings.breaks_on(fact);
            match fact {
                Fact::RunStarted(_) => engine_runs = true,
                Fact::RunResumed { .. } => {
                    engine_runs = true;
                    segment += 1;
                }
                Fact::RunPaused { .. } | Fact::RunFinished { .. } => engine_runs = false,
                Fact::CommandStarted {
                    unit,
                    phase,
                    index,
                    attempt,
                    ..
                } => {
                    let key = (unit.clone(), *phase, *index, *attempt);
                    running.insert(unit.clone(), key.clone());
                    self.commands.insert(
                        key,
                        RecordedCommand {
                            exit: None,
                            duration_ms: 0,
                            finished_ms: event.time_ms,
                            pieces: Vec::new(),
                            truncated: false,
                        },
                    );
                }
                Fact::Output { unit, stream, text } => {
                    let command = running.get(unit).and_then(|key| self.commands.get_mut(key));
                    if let Some(command) = command {
                        if stream == "note" {
                            command.truncated = true;
                        } else {
                            command.pieces.push((stream.clone(), text.clone()));
                        }
                    }
                }
                Fact::CommandFinished {
                    unit,
                    phase,
                    index,
                    attempt,
                    exit,
                    duration_ms,
                    ..
                } => {
                    if let Some(command) =
                        self.commands
                            .get_mut(&(unit.clone(), *phase, *index, *attempt))
                    {
                        command.exit = Some(*exit);
                        command.duration_ms = *duration_ms;
                        command.finished_ms = event.time_ms;
                    }
                }
                Fact::Waiting { unit, node, .. } => {
                    waits.insert(node.clone(), unit.clone());
                }
                // A pause between waves is waited on under its block's name.
                Fact::WavePause { waves, index, .. } => {
                    waits.insert(waves.clone(), run_wave_key(waves, *index));
                }
                Fact::Evaluated {
                    unit,
                    condition,
                    values,
                    unreadable,
                    ..
                } => {
                    readings.evaluated(unit, condition, segment, event.time_ms, values, unreadable)
                }
                Fact::Baseline {
                    values, unreadable, ..
                } => readings.push(
                    BASELINE,
                    segment,
                    Reading {
                        at_ms: event.time_ms,
                        values: values.clone(),
                        unreadable: unreadable.clone(),
                    },
                ),
                Fact::Delivered {
                    key,
                    channel,
                    ok,
                    attempts,
                    detail,
                } => self.deliveries.get_mut().push(
                    (key.clone(), channel.clone()),
                    segment,
                    RecordedDelivery {
                        at_ms: event.time_ms,
                        ok: *ok,
                        attempts: *attempts,
                        detail: detail.clone(),
                    },
                ),
                _ => {}
            }
            // Answers given to a stopped run are copied in between segments; those
            // the engine heard are fed to the wait they answered.
            if engine_runs {
                if let Some((key, answer)) = answer_of(fact, &waits) {
                    self.answers.get_mut().push(
                        key,
                        segment,
                        RecordedAnswer {
                            at_ms: event.time_ms,
                            answer,
                            actor: event.actor.clone().unwrap_or(Actor {
                                person: None,
                                os_user: None,
                            }),
                        },
                    );
                }
            }
        }
        *self.readings.get_mut() = readings.finish();
    }

    /// Makes `index` the segment being replayed.
    pub fn enter(&self, index: usize) {
        self.current.set(index);
    }

    pub fn segment(&self) -> Option<&Segment> {
        self.segments.get(self.current.get())
    }

    /// How the command at this place went.
    pub fn command(
        &self,
        unit: &str,
        phase: Phase,
        index: usize,
        attempt: u32,
    ) -> Option<&RecordedCommand> {
        self.commands
            .get(&(unit.to_string(), phase, index, attempt))
    }

    /// The next reading taken for `unit` (a gate or a watch; `BASELINE`).
    pub fn next_reading(&self, unit: &str) -> Option<Reading> {
        self.readings.borrow_mut().take(unit, self.current.get())
    }

    /// The next answer the engine heard for the wait `key`, without taking it.
    pub fn next_answer(&self, key: &str) -> Option<RecordedAnswer> {
        self.answers.borrow_mut().peek(key, self.current.get())
    }

    /// Takes the answer `next_answer` showed.
    pub fn take_answer(&self, key: &str) {
        self.answers.borrow_mut().take(key, self.current.get());
    }

    /// How the next delivery of `key` through `channel` went.
    pub fn next_delivery(&self, key: &str, channel: &str) -> Option<RecordedDelivery> {
        self.deliveries
            .borrow_mut()
            .take(&(key.to_string(), channel.to_string()), self.current.get())
    }
}

/// Readings grouped as they were taken: the conditions evaluated on one reading follow
/// each other in their unit's events; a condition seen again, or any other event of
/// the unit, begins the next reading.
#[derive(Default)]
struct ReadingsBuilder {
    done: Queues<String, Reading>,
    /// The reading being gathered for each unit, its segment, and the conditions it
    /// was used for.
    open: HashMap<String, (Reading, usize, Vec<String>)>,
}

impl ReadingsBuilder {
    /// Closes the unit's open reading when another of its events comes between.
    fn breaks_on(&mut self, fact: &Fact) {
        if matches!(fact, Fact::Evaluated { .. }) {
            return;
        }
        if let Some(unit) = unit_of(fact) {
            self.close(unit);
        }
    }

    fn evaluated(
        &mut self,
        unit: &str,
        condition: &str,
        segment: usize,
        at_ms: u64,
        values: &BTreeMap<String, f64>,
        unreadable: &BTreeMap<String, String>,
    ) {
        if self
            .open
            .get(unit)
            .is_some_and(|(_, _, seen)| seen.iter().any(|seen| seen == condition))
        {
            self.close(unit);
        }
        let (reading, _, seen) = self.open.entry(unit.to_string()).or_insert_with(|| {
            (
                Reading {
                    at_ms,
                    ..Reading::default()
                },
                segment,
                Vec::new(),
            )
        });
        reading.values.extend(values.clone());
        reading.unreadable.extend(unreadable.clone());
        seen.push(condition.to_string());
    }

    fn push(&mut self, unit: &str, segment: usize, reading: Reading) {
        self.done.push(unit.to_string(), segment, reading);
    }

    /// Every reading, the last ones closed too.
    fn finish(mut self) -> Queues<String, Reading> {
        let open: Vec<String> = self.open.keys().cloned().collect();
        for unit in open {
            self.close(&unit);
        }
        self.done
    }

    fn close(&mut self, unit: &str) {
        if let Some((reading, segment, _)) = self.open.remove(unit) {
            self.push(unit, segment, reading);
        }
    }
}

/// The unit an event belongs to, for those that have one.
fn unit_of(fact: &Fact) -> Option<&str> {
    match fact {
        Fact::UnitStarted { unit, .. }
        | Fact::CommandStarted { unit, .. }
        | Fact::Output { unit, .. }
        | Fact::CommandFinished { unit, .. }
        | Fact::Waiting { unit, .. }
        | Fact::Confirmed { unit, .. }
        | Fact::Decided { unit, .. }
        | Fact::Voted { unit, .. }
        | Fact::Escalated { unit, .. }
        | Fact::ApprovalSettled { unit, .. }
        | Fact::Evaluated { unit, .. }
        | Fact::UnitFinished { unit, .. } => Some(unit),
        _ => None,
    }
}

/// A person's answer and the wait it answered. A refused answer is given again as it
/// was refused (its word; what it said beyond that was not logged).
fn answer_of(fact: &Fact, waits: &HashMap<String, String>) -> Option<(String, Answer)> {
    Some(match fact {
        Fact::Confirmed { unit, values } => (unit.clone(), Answer::Confirmed(values.clone())),
        Fact::Decided { unit, decision } => (unit.clone(), Answer::Decided(*decision)),
        Fact::Voted {
            unit,
            approve,
            reason,
            ..
        } => (
            unit.clone(),
            Answer::Voted {
                approve: *approve,
                reason: reason.clone(),
            },
        ),
        Fact::PauseSkipped {
            waves,
            index,
            reason,
        } => (
            run_wave_key(waves, *index),
            Answer::SkipPause {
                reason: reason.clone(),
            },
        ),
        Fact::Refused { node, answer, .. } => {
            let key = waits.get(node)?.clone();
            let answer = match answer.as_str() {
                "approve" | "reject" => Answer::Voted {
                    approve: answer == "approve",
                    reason: None,
                },
                "confirm" => Answer::Confirmed(BTreeMap::new()),
                "decide" => Answer::Decided(Decision::Retry),
                _ => Answer::SkipPause { reason: None },
            };
            (key, answer)
        }
        _ => return None,
    })
}

/// The run cut where each engine started and stopped.
fn segments(events: &[Event], facts: &[Fact], simulated: bool) -> Vec<Segment> {
    let mut segments: Vec<Segment> = Vec::new();
    let mut accepted = None;
    // Whether the current segment's engine still writes (no end logged yet).
    let mut running = false;
    let mut last_work_ms = 0;
    let mut last_seq = 0;
    for (event, fact) in events.iter().zip(facts) {
        match fact {
            Fact::RunStarted(_) | Fact::RunResumed { .. } => {
                if running {
                    // The log goes on with a resume and no end before it: the engine
                    // died after its last event.
                    if let Some(segment) = segments.last_mut() {
                        segment.stops.die_after = Some(last_seq);
                    }
                }
                running = true;
                let resumed_by = match fact {
                    Fact::RunResumed { .. } => {
                        event.actor.as_ref().and_then(|actor| actor.person.clone())
                    }
                    _ => None,
                };
                segments.push(Segment {
                    began_ms: event.time_ms,
                    resumed_by,
                    accepted_source: accepted.take(),
                    waits_for_people: true,
                    stops: Stops::default(),
                    between: Vec::new(),
                    remote: None,
                });
                last_work_ms = event.time_ms;
            }
            Fact::ChangesAccepted { source, .. } => accepted = Some(source.clone()),
            Fact::RemoteAccess(access) if running => {
                if let Some(segment) = segments.last_mut() {
                    segment.remote = Some((**access).clone());
                }
            }
            Fact::RunFinished { .. } => running = false,
            Fact::RunPaused { reason } => {
                running = false;
                if let Some(segment) = segments.last_mut() {
                    let pause = crate::engine::Pause::from_reason(reason);
                    // A real engine that waits for people never pauses for one: this
                    // one was told not to wait (`--no-wait`, or no terminal).
                    segment.waits_for_people =
                        simulated || pause != Some(crate::engine::Pause::WaitingForAPerson);
                    if pause == Some(crate::engine::Pause::Interrupted) {
                        segment.stops.no_new_work_at = Some(last_work_ms.saturating_add(1));
                    }
                }
            }
            _ if !running => {
                if let Some(segment) = segments.last_mut() {
                    segment.between.push(event.clone());
                }
            }
            Fact::CommandFinished {
                exit: ExitRecord::Interrupted,
                ..
            } => {
                if let Some(segment) = segments.last_mut() {
                    let kill = segment
                        .stops
                        .kill_at
                        .map_or(event.time_ms, |at| at.min(event.time_ms));
                    segment.stops.kill_at = Some(kill);
                }
            }
            // What an interrupt lets end by itself may come after it; anything else the
            // engine did (began work, heard an answer, decided) came before it.
            Fact::CommandFinished { .. }
            | Fact::Output { .. }
            | Fact::UnitFinished { .. }
            | Fact::Delivered { .. }
            | Fact::Objective { .. } => {}
            _ => last_work_ms = event.time_ms,
        }
        last_seq = event.seq;
    }
    // A log that ends with no end: the engine died there (or still runs), and the
    // replay's stops where the log does.
    if running {
        if let Some(segment) = segments.last_mut() {
            segment.stops.die_after = Some(last_seq);
        }
    }
    for segment in &mut segments {
        // The first interrupt came before the commands it let end were stopped.
        if let (Some(soft), Some(kill)) = (segment.stops.no_new_work_at, segment.stops.kill_at) {
            segment.stops.no_new_work_at = Some(soft.min(kill));
        }
    }
    segments
}
