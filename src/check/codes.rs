//! The check stage's diagnostics catalogue, grouped by the pass that reports them.

use crate::diagnostic::Code;

// ------------------------------------------------------------ context (context.rs)
pub const ROSTER_UNREADABLE: Code = Code::error(
    "rbk::check::roster_unreadable",
    "the roster file cannot be read",
);
pub const ROSTER_INVALID: Code = Code::error(
    "rbk::check::roster_invalid",
    "the roster file is not a valid roster",
);
pub const INVENTORY_UNREADABLE: Code = Code::error(
    "rbk::check::inventory_unreadable",
    "an inventory file cannot be read",
);
pub const INVENTORY_INVALID: Code = Code::error(
    "rbk::check::inventory_invalid",
    "an inventory is not a valid host list (bad TOML, a host listed twice)",
);
pub const SHIP_UNREADABLE: Code = Code::error(
    "rbk::check::ship_unreadable",
    "a shipped file cannot be read (it does not exist, or permission is denied)",
);
pub const SHIP_NOT_A_FILE: Code = Code::error(
    "rbk::check::ship_not_a_file",
    "a shipped path names a directory or a device, not a regular file",
);
pub const SHIP_TOO_LARGE: Code = Code::error(
    "rbk::check::ship_too_large",
    "a shipped file is over 1 MiB, larger than a script should be",
);

// ------------------------------------------------------------ inventories (inventories.rs)
pub const INVENTORY_CYCLE: Code = Code::error(
    "rbk::check::inventory_cycle",
    "inventories are defined from each other in a circle",
);
pub const EMPTY_INVENTORY: Code = Code::error(
    "rbk::check::empty_inventory",
    "an inventory's `where` selects no host",
);

// ------------------------------------------------------------ shipped files (shipped.rs)
pub const SHIP_EMPTY_PATH: Code = Code::error(
    "rbk::check::ship_empty_path",
    "`ship` is given an empty path",
);
pub const SHIP_OUTSIDE_FOLDER: Code = Code::error(
    "rbk::check::ship_outside_folder",
    "a shipped path leaves the runbook's folder (absolute, `..`, or a link out of it)",
);
pub const SHIP_REPEATED: Code = Code::error(
    "rbk::check::ship_repeated",
    "the same file is shipped twice",
);

// ------------------------------------------------------------ names (names.rs)
pub const UNKNOWN_NAME: Code = Code::error(
    "rbk::check::unknown_name",
    "a name refers to nothing declared, or to the wrong kind of thing",
);
pub const DUPLICATE_NAME: Code = Code::error(
    "rbk::check::duplicate_name",
    "two declarations share one name",
);
pub const RESERVED_NAME: Code = Code::error(
    "rbk::check::reserved_name",
    "a name is one the language gives a meaning of its own",
);

// ------------------------------------------------------------ settings (settings.rs)
pub const DUPLICATE_SETTING: Code = Code::error(
    "rbk::check::duplicate_setting",
    "a setting is written twice in one block",
);
pub const DUPLICATE_POLICY: Code = Code::error(
    "rbk::check::duplicate_policy",
    "two `on failure` policies for the same class",
);
pub const MISSING_SETTING: Code = Code::error(
    "rbk::check::missing_setting",
    "a block lacks a setting it cannot work without",
);
pub const MISPLACED_SETTING: Code = Code::error(
    "rbk::check::misplaced_setting",
    "a setting is written where it has no meaning",
);
pub const IGNORED_SETTING: Code = Code::warning(
    "rbk::check::ignored_setting",
    "a setting has no effect where it is written",
);

// ------------------------------------------------------------ values (values.rs)
pub const VALUE_OUT_OF_RANGE: Code = Code::error(
    "rbk::check::value_out_of_range",
    "a number, share or duration is outside what makes sense (zero, over 100%)",
);
pub const PARAM_TYPE_MISMATCH: Code = Code::error(
    "rbk::check::param_type_mismatch",
    "a param's default is not of the param's type",
);
pub const INTERVAL_TOO_LONG: Code = Code::error(
    "rbk::check::interval_too_long",
    "a watch or poll interval is longer than the time it runs",
);
pub const ZERO_TIMER: Code = Code::warning("rbk::check::zero_timer", "a timer waits no time");

// ------------------------------------------------------------ order (order.rs)
pub const DEPENDENCY_CYCLE: Code = Code::error(
    "rbk::check::dependency_cycle",
    "nodes wait for each other in a circle, so none of them can start",
);
pub const UNREACHABLE: Code = Code::error(
    "rbk::check::unreachable",
    "a node waits for a step that only runs while a failure is handled",
);
pub const AFTER_CROSSES_WAVES: Code = Code::error(
    "rbk::check::after_crosses_waves",
    "`after` links a node inside a waves block with one outside it",
);

// ------------------------------------------------------------ rollback (rollback.rs)
pub const MISSING_ROLLBACK: Code = Code::error(
    "rbk::check::missing_rollback",
    "a step changes something but says neither how to undo it nor why it cannot be",
);
pub const EMPTY_REASON: Code = Code::error(
    "rbk::check::empty_reason",
    "`irreversible` is given an empty reason",
);
pub const CONTRADICTORY_SETTINGS: Code = Code::warning(
    "rbk::check::contradictory_settings",
    "a step is marked in two ways that contradict each other",
);
pub const NO_ACTION: Code = Code::error(
    "rbk::check::no_action",
    "a step, rollback, gate or watch does nothing",
);
pub const ROLLBACK_WITHOUT_WAVES: Code = Code::error(
    "rbk::check::rollback_without_waves",
    "`rollback wave` or `rollback hosts` in a runbook with no waves block",
);

// ------------------------------------------------------------ Rhai (conditions.rs)
pub const INVALID_CONDITION: Code = Code::error(
    "rbk::check::invalid_condition",
    "a `require` condition is not a valid Rhai expression",
);
pub const UNKNOWN_PROBE: Code = Code::error(
    "rbk::check::unknown_probe",
    "a condition uses a name that is no probe, param or `baseline` field",
);
pub const INVALID_SCRIPT: Code =
    Code::error("rbk::check::invalid_script", "a `script` is not valid Rhai");

// ------------------------------------------------------------ interpolation (interpolation.rs)
pub const UNKNOWN_INTERPOLATION: Code = Code::error(
    "rbk::check::unknown_interpolation",
    "`{{name}}` in a string names nothing that can be interpolated",
);
pub const INTERPOLATION_OUT_OF_PLACE: Code = Code::error(
    "rbk::check::interpolation_out_of_place",
    "`{{host}}`, `{{failure.*}}` or `{{wave.*}}` where it has no value",
);
pub const SECRET_IN_MESSAGE: Code = Code::error(
    "rbk::check::secret_in_message",
    "a secret is interpolated where it would be shown or logged",
);
pub const UNCLOSED_INTERPOLATION: Code = Code::error(
    "rbk::check::unclosed_interpolation",
    "`{{` in a string is never closed with `}}`",
);

// ------------------------------------------------------------ waves (waves.rs)
pub const WAVES_MIXED_STAGES: Code = Code::error(
    "rbk::check::waves_mixed_stages",
    "`stages` mixes percentages and host counts",
);
pub const WAVES_NOT_GROWING: Code = Code::error(
    "rbk::check::waves_not_growing",
    "cumulative wave percentages do not strictly grow",
);
pub const WAVES_INCOMPLETE: Code = Code::error(
    "rbk::check::waves_incomplete",
    "the last wave percentage is not 100%, so some hosts are never done",
);
pub const WAVES_SHRINKING: Code = Code::warning(
    "rbk::check::waves_shrinking",
    "a wave's batch of hosts is smaller than the one before",
);
pub const EMPTY_WAVES: Code = Code::error(
    "rbk::check::empty_waves",
    "a waves block has no step to roll out",
);
pub const WAVES_LARGER_THAN_INVENTORY: Code = Code::warning(
    "rbk::check::waves_larger_than_inventory",
    "the first batch alone is larger than the inventory",
);

// ------------------------------------------------------------ approvals (approvals.rs)
pub const ROLE_NOT_HELD: Code = Code::error(
    "rbk::check::role_not_held",
    "nobody in the roster holds a role that must approve or confirm",
);
pub const QUORUM_UNREACHABLE: Code = Code::error(
    "rbk::check::quorum_unreachable",
    "an approval needs more people than the roster has for its roles",
);

// ------------------------------------------------------------ risk tiers (tiers.rs)
pub const MISSING_RISK: Code = Code::warning(
    "rbk::check::missing_risk",
    "a runbook that changes things does not say its risk tier",
);
pub const HIGH_RISK_WITHOUT_CANARY: Code = Code::error(
    "rbk::check::high_risk_without_canary",
    "a high-risk runbook has no canary waves",
);
pub const CANARY_TOO_LARGE: Code = Code::error(
    "rbk::check::canary_too_large",
    "a high-risk runbook's first wave is over 5% of the hosts",
);
pub const PAUSE_TOO_SHORT: Code = Code::warning(
    "rbk::check::pause_too_short",
    "a high-risk runbook waits less than an hour between waves",
);
pub const MISSING_BACKUP: Code = Code::error(
    "rbk::check::missing_backup",
    "a high-risk runbook takes no backup before its first wave",
);
pub const UNVERIFIED_BACKUP: Code = Code::error(
    "rbk::check::unverified_backup",
    "a high-risk runbook's backup is never shown to restore",
);
pub const FULL_ROLLBACK_WITHOUT_COMMANDER: Code = Code::error(
    "rbk::check::full_rollback_without_commander",
    "a high-risk `rollback all` is not approved by the commander first",
);
pub const MISSING_MANUAL_INTERVENTION: Code = Code::error(
    "rbk::check::missing_manual_intervention",
    "a medium-risk rollout has no point where a person can step in",
);
pub const ROLLBACK_WITHOUT_CONFIRMATION: Code = Code::error(
    "rbk::check::rollback_without_confirmation",
    "a medium-risk rollback is not confirmed by a person first",
);
pub const MISSING_SAMPLE_VERIFICATION: Code = Code::error(
    "rbk::check::missing_sample_verification",
    "a medium-risk runbook never verifies a sample of the changed hosts",
);
pub const MISSING_TEST_GATE: Code = Code::error(
    "rbk::check::missing_test_gate",
    "a low-risk rollout does not wait for automated tests to pass",
);
pub const MISSING_AUTOMATIC_ROLLBACK: Code = Code::error(
    "rbk::check::missing_automatic_rollback",
    "a low-risk runbook has no rollback that runs without a person",
);

// ------------------------------------------------------------ deadlines (deadlines.rs)
pub const DEADLINE_INFEASIBLE: Code = Code::error(
    "rbk::check::deadline_infeasible",
    "the worst case of a failure policy is over an objective",
);
pub const DEADLINE_UNBOUNDED: Code = Code::warning(
    "rbk::check::deadline_unbounded",
    "a failure policy waits on something with no time limit, so an objective cannot be shown",
);

// ------------------------------------------------------------ notifications (notify.rs)
pub const OBJECTIVE_PHRASING: Code = Code::error(
    "rbk::check::objective_phrasing",
    "an objective is phrased in a way that does not fit what it measures",
);
pub const ALERT_WITHOUT_NOTIFY: Code = Code::error(
    "rbk::check::alert_without_notify",
    "an `alert` objective, but no notification on failure",
);
pub const NO_CHANNEL: Code = Code::error(
    "rbk::check::no_channel",
    "a notification without `via` has no channel to go through",
);

pub const ALL: &[Code] = &[
    ROSTER_UNREADABLE,
    ROSTER_INVALID,
    INVENTORY_UNREADABLE,
    INVENTORY_INVALID,
    SHIP_UNREADABLE,
    SHIP_NOT_A_FILE,
    SHIP_TOO_LARGE,
    INVENTORY_CYCLE,
    EMPTY_INVENTORY,
    SHIP_EMPTY_PATH,
    SHIP_OUTSIDE_FOLDER,
    SHIP_REPEATED,
    UNKNOWN_NAME,
    DUPLICATE_NAME,
    RESERVED_NAME,
    DUPLICATE_SETTING,
    DUPLICATE_POLICY,
    MISSING_SETTING,
    MISPLACED_SETTING,
    IGNORED_SETTING,
    VALUE_OUT_OF_RANGE,
    PARAM_TYPE_MISMATCH,
    INTERVAL_TOO_LONG,
    ZERO_TIMER,
    DEPENDENCY_CYCLE,
    UNREACHABLE,
    AFTER_CROSSES_WAVES,
    MISSING_ROLLBACK,
    EMPTY_REASON,
    CONTRADICTORY_SETTINGS,
    NO_ACTION,
    ROLLBACK_WITHOUT_WAVES,
    INVALID_CONDITION,
    UNKNOWN_PROBE,
    INVALID_SCRIPT,
    UNKNOWN_INTERPOLATION,
    INTERPOLATION_OUT_OF_PLACE,
    SECRET_IN_MESSAGE,
    UNCLOSED_INTERPOLATION,
    WAVES_MIXED_STAGES,
    WAVES_NOT_GROWING,
    WAVES_INCOMPLETE,
    WAVES_SHRINKING,
    EMPTY_WAVES,
    WAVES_LARGER_THAN_INVENTORY,
    ROLE_NOT_HELD,
    QUORUM_UNREACHABLE,
    MISSING_RISK,
    HIGH_RISK_WITHOUT_CANARY,
    CANARY_TOO_LARGE,
    PAUSE_TOO_SHORT,
    MISSING_BACKUP,
    UNVERIFIED_BACKUP,
    FULL_ROLLBACK_WITHOUT_COMMANDER,
    MISSING_MANUAL_INTERVENTION,
    ROLLBACK_WITHOUT_CONFIRMATION,
    MISSING_SAMPLE_VERIFICATION,
    MISSING_TEST_GATE,
    MISSING_AUTOMATIC_ROLLBACK,
    DEADLINE_INFEASIBLE,
    DEADLINE_UNBOUNDED,
    OBJECTIVE_PHRASING,
    ALERT_WITHOUT_NOTIFY,
    NO_CHANNEL,
];
