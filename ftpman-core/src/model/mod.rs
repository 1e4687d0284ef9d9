//! The domain model (docs/architecture.md, "Data model"): sites, jobs, runs and what hangs off them.

mod group;
mod job;
mod record;
mod run;
mod site;
mod window;

pub use group::{Group, GroupRun, NewGroupRun};
pub use job::{AfterAction, ConflictPolicy, Job, NotifyPolicy, Schedule, ScheduledJob};
pub use record::{
    ApiToken, DayStats, LedgerEntry, LogEntry, LogLevel, LogQuery, Node, Principal, Setting, SiteTestRecord, User,
    UserRole, check_setting_key, same_mtime,
};
pub use run::{ActiveFile, NewRun, Run, RunCounts, RunFile, RunFileStatus, RunQuery, RunRequest, RunStatus, Trigger};
pub use site::{Protocol, Site, SiteUrl};
pub(crate) use window::local_instant;
pub use window::{DateWindow, NameDate, ResolvedWindow};

/// Implements `as_str`, `Display` and `FromStr` for a field-less enum from one table of names, so
/// the stored, printed and parsed spellings cannot drift apart.
macro_rules! string_enum {
    ($ty:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The spelling used in the store, the CLI and the API.
            pub fn as_str(&self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::validate::ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err($crate::validate::ValidationError::new(
                        $field,
                        format!(
                            "'{}' is not one of: {}",
                            $crate::validate::printable(other),
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }
    };
}
pub(crate) use string_enum;
