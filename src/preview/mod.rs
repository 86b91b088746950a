//! One PR run, shared by the GitHub Action (`src/action/`) and the webhook receiver
//! (`src/server/`). Nothing here knows which of them runs it: no `INPUT_*`, no
//! `GITHUB_OUTPUT`, no runner log commands, no HTTP.
//!
//! **API notes** (newest first; every change so far is additive):
//! - issue 17: `Command::{Sleep, Wake}` → `Decision::{Sleep, Wake}` → `execute` sleeps or
//!   wakes every profile (`ctx.sleep_all` / `ctx.wake_all`), edits the comment (`Status::Asleep
//!   { since, waker }`, `Status::Waking`) and the newest deployment's status;
//!   `PrAction::{Slept, Woke}`. A deploy to a sleeping preview wakes it (`Outcome::woke`).
//! - 11:20 UTC: `Options` gained `comment_template: Option<CommentTemplate>` and
//!   `env: EnvTemplate` (build `Options` with `..Options::default()`); `Prepared` gained
//!   `env` (per profile, expanded in `prepare`); `Context::render(&View)` renders with the
//!   template. Nothing was renamed or removed.
//!
//! # API (stable; changes are announced in the notes above)
//!
//! ```text
//! Context { engine, github: Option<GitHub>, author: Author, origin: Origin,
//!           profiles: ProfileSource, options: Options, clock: Arc<dyn Clock> }
//!   Context::new(engine, origin, profiles)       wall clock, no GitHub, default options
//!   ctx.prepare(Request) -> Result<Prepared>     round 1 + decide; writes nothing
//!   ctx.execute(&Prepared) -> Report             deploy-all / delete-all / skip
//!   ctx.deploy_all(&Prepared) / ctx.delete_all(&Prepared) -> Report
//!   ctx.sleep_all(&Prepared) / ctx.wake_all(&Prepared) -> Report
//!   ctx.gc(ttl, dry_run) -> Result<GcReport>     closed-PR and idle environments
//!   ctx.sticky(&Prepared) -> Option<Sticky>      the PR's comment (None: no PR / comments off)
//!   ctx.comment_body(&Prepared, &PrEvent, Status) -> String
//!   ctx.inactivate(&GitHub, environment) -> Result<Vec<u64>>   every deployment, paged
//!   ctx.load_profile(name) / ctx.load_profiles(&[Target])
//!
//! Request  { event: Option<PrEvent>, command: Command, label, name, targets: Vec<Target> }
//! Prepared { environment, decision: Decision, event, targets, profiles, endpoints, comment_id,
//!            env: Vec<Vec<(name, value)>> }
//! Report   { environment, decision, action: PrAction, runs: Vec<ProfileRun>, github: GitHubSide }
//!   .ok()  .failures()  .outcomes()  .url()
//! PrAction       Created | Deployed | Deleted | Absent | Slept | Woke | Skipped | Failed
//! ProfileRun     { profile, result: anyhow::Result<engine::Outcome> }
//! GitHubSide     { comment_id, deployment: Option<(id, DeploymentState)>, inactivated, error }
//! DeploymentState InProgress | Success | Failure | Inactive               (.as_str())
//! Decision (github::decide)  Deploy | Delete { reason } | Sleep | Wake | Skip { reason }
//! Sticky::new(&GitHub, &Author, pr, environment, known_id)
//!   .lookup() -> Option<id>   marker AND author, every page
//!   .show(body) -> id         edit, or create
//!   .edit(body) -> Option<id> edit only, never create
//! Author   Login(String) | Discover   (Discover: GET /user, 403 → any GitHub App's comment)
//! Origin   { repository: "owner/name", server_url, run_url: Option<String> }
//! ProfileSource  File(PathBuf) | Remote (the engine's table)
//! Options  { comment, deployment, wait: Option<WaitSettings { timeout, interval }>,
//!            comment_template: Option<CommentTemplate>, env: EnvTemplate }
//! CommentTemplate::parse(text)?  EnvTemplate::parse("NAME=value\n…")?  (validated)
//!          build with `..Options::default()`: fields are only ever added
//! GcReport { dry_run, items: Vec<GcItem { profile, environment, reason: GcReason, result }> }
//! Clock    trait { now() }; SystemClock; ManualClock::new(t).set(t)/.advance(d)
//! ```
//!
//! Behaviour the callers rely on:
//! - Fork PRs, and events that are not about a PR under `Command::Auto`, are skipped in
//!   `prepare` before any call.
//! - The PR is read (GET) only for opened / reopened / synchronize / labeled under `Auto`.
//! - Deploys: the comment (deploying) and the deployment (in_progress) go out while the engine
//!   works on every profile concurrently; then ready / deployed / failed, success / failure.
//!   A new comment's id is remembered on the first profile's state item.
//! - Deletes never create a comment: a PR that never had a preview gets none.
//! - Waiting uses tokio time, timestamps use `clock`: tests drive both.

pub mod clock;
pub mod context;
pub mod env;
pub mod gc;
pub mod meta;
pub mod placeholder;
pub mod prepare;
pub mod report;
pub mod run;
pub mod sleep;
pub mod sticky;
pub mod template;

pub use clock::{Clock, ManualClock, SystemClock};
pub use context::{Context, Options, Origin, ProfileSource, Target, WaitSettings};
pub use env::{EnvTemplate, EnvValues};
pub use gc::{GcItem, GcReason, GcReport};
pub use prepare::{Prepared, Request};
pub use report::{DeploymentState, GitHubSide, PrAction, ProfileRun, Report};
pub use sticky::{Author, Sticky};
pub use template::CommentTemplate;

pub use crate::github::comment::Status;
pub use crate::github::decide::{Command, Decision};
pub use crate::github::event::PrEvent;
