//! Jobs on cron schedules: the `[scheduler]` and `[[job]]` configuration ([`job`]), cron
//! expressions in time zones with DST handled ([`expr`]), and the daemon's memory of past
//! runs ([`state`]). `lifeboat schedule check` and `lifeboat run` (the [`crate::daemon`])
//! share them.

pub mod expr;
pub mod job;
pub mod state;

pub use expr::{CronExpr, Dialect};
pub use job::{CommandCheck, JobSpec, Missed, Overlap, SchedulerSpec};
pub use state::{JobState, StateFile};
