//! The `tally` command line.

use std::io::{BufRead as _, IsTerminal as _};
use std::num::NonZeroUsize;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, Application};
use crate::auth::Scope;
use crate::config::Config;
use crate::domain::dn::Dn;
use crate::entity::{buckets, projects, sites};
use crate::error::Error;
use crate::service::events::EventBus;
use crate::service::{cloud, demo, import, users};

/// Tally: the accounting of research computing.
///
/// Records HPC jobs, cloud VM usage, EOSC service metrics and object-storage
/// usage in one model, and serves them through GraphQL and through REST routes
/// compatible with HEAppE, the EOSC Accounting System, APEL and HCP.
///
/// Configuration comes from `TALLY_*` environment variables (and a `.env` file
/// in the working directory, if present); see the README for the full table.
/// With `TALLY_DATABASE_URL` unset, Tally uses the SQLite file `tally.db` in the
/// working directory.
#[derive(Debug, Parser)]
#[command(name = "tally", version)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP on TALLY_BIND (the default).
    ///
    /// Serves `/graphql`, the compatibility routes, `/healthz` (the process is
    /// alive) and `/readyz` (the database answers, else 503). Stops on
    /// SIGINT/SIGTERM after in-flight requests finish (at most
    /// TALLY_SHUTDOWN_GRACE_SECS).
    Serve {
        /// Load the demo data set first when the database holds no project,
        /// and print the URL, the password of `demo-admin` and an admin token.
        #[arg(long)]
        demo: bool,
    },
    /// Load the demo data set (or, with --scale, benchmark data) and exit.
    ///
    /// Two projects with sub-projects and groups, two clusters with node
    /// types and formulas (one replaced mid-period), 240 jobs with their tasks
    /// over 3 months, a cloud site with 10 days of VM snapshots, an EOSC
    /// provider with an installation and 60 days of metrics, and 3 buckets
    /// with 60 days of hourly usage, all loaded through the ingestion
    /// services. Refused when the database already holds projects.
    Demo {
        /// Multiply the jobs and cloud VMs by this, the buckets and EOSC
        /// users by a tenth of it (rounded up).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        scale: u32,
    },
    /// Apply pending migrations to TALLY_DATABASE_URL and exit.
    Migrate,
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    Schema,
    /// Manage local users and their grants.
    ///
    /// There are no default users or passwords: the first administrator comes
    /// from `tally user add NAME --admin`. Passwords are read from the terminal
    /// (or one line of standard input), never from the command line.
    #[command(subcommand)]
    User(UserCommand),
    /// Print a signed token (JWT) for a user, for scripts and dashboards.
    ///
    /// Send it as `Authorization: Bearer <token>`.
    Token {
        /// The user the token names.
        #[arg(long)]
        user: String,
        /// Lifetime: seconds, or a number with `s`, `m`, `h` or `d` (e.g. `30d`).
        #[arg(long, default_value = "24h", value_parser = parse_ttl)]
        ttl: u64,
    },
    /// Manage the DNs allowed (or banned) to publish APEL cloud records.
    #[command(subcommand)]
    Publisher(PublisherCommand),
    /// Import accounting records exported by other systems.
    #[command(subcommand)]
    Import(ImportCommand),
}

/// `tally import …`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import Slurm `sacct` output into a cluster's jobs (see docs/import.md).
    ///
    /// Each Slurm job becomes one job with one task; steps (`123.batch`,
    /// `123.0`, …) are folded into their job. Re-importing a file changes
    /// nothing; jobs still running are updated when seen again. Bad lines and
    /// jobs that cannot be imported are listed as `line N: …` and the valid
    /// jobs are imported anyway. Exit status: 0 when every job was imported,
    /// 1 when anything was skipped, rejected or unreadable (or the import
    /// failed).
    #[command(after_long_help = SLURM_IMPORT_HELP)]
    Slurm(SlurmImportArgs),
}

/// The column list of `tally import slurm --help`.
const SLURM_IMPORT_HELP: &str = "\
Columns used (others are ignored; only JobID/JobIDRaw is required by the parser):
  JobID        the job's id in Tally (array ids as printed: 4103947_100); steps fold in
  JobIDRaw     the task's scheduler id, and the formula parameter JobId
  Submit       required: Tally keys a job by cluster, JobID and Submit
  State        the job's state (unknown states are skipped)
  Account      the project, when it is a project's accounting string (else --project)
  Partition    the node type, by name or queue (empty: --partition)
  User         the submitter, when a Tally user has that name
  JobName, Start, End
  NCPUS, NNodes, AllocTRES (gres/gpu), Elapsed
               allocated cores, nodes, GPUs and seconds
  any column   a formula parameter as HEAppE names it (NumCPUs, RunTime, cpu, billing, ...)
Times without a zone are read as UTC: run sacct with TZ=UTC.

The column list comes from a header line (sacct without --noheader) or --format.
Recommended export:
  TZ=UTC sacct --allusers --parsable2 --duplicates --starttime 2026-01-01 --endtime 2026-02-01 \\
    --format JobID,JobIDRaw,JobName,User,Group,Account,Partition,Submit,Eligible,Start,End,\\
Elapsed,Timelimit,State,NNodes,NCPUS,ReqTRES,AllocTRES,NodeList,ExitCode > jobs.psv

--format example (the xdmod layout, for files written with --noheader):
  --format JobID,JobIDRaw,Cluster,Partition,QOS,Account,Group,GID,User,UID,Submit,Eligible,\\
Start,End,Elapsed,ExitCode,State,NNodes,NCPUS,ReqCPUS,ReqMem,ReqTRES,AllocTRES,Timelimit,\\
NodeList,JobName";

/// `tally import slurm …`.
#[derive(Debug, Args)]
pub struct SlurmImportArgs {
    /// The sacct output; `-` reads standard input.
    pub file: String,
    /// The cluster the jobs ran on (its name in Tally).
    #[arg(long)]
    pub cluster: String,
    /// Accounting string of the project for jobs whose Account is not one.
    #[arg(long)]
    pub project: Option<String>,
    /// Node type (name or queue) for jobs without a Partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// The --format list the file was written with, when it has no header line.
    #[arg(long)]
    pub format: Option<String>,
    /// The delimiter (sacct --delimiter); detected when omitted.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Replace finished jobs whose content differs from what is stored.
    #[arg(long)]
    pub correction: bool,
    /// Do everything, then roll back: show what would be imported.
    #[arg(long)]
    pub dry_run: bool,
    /// Jobs per transaction.
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE)]
    pub batch_size: NonZeroUsize,
}

/// [`import::DEFAULT_BATCH_SIZE`], which is not zero.
const DEFAULT_BATCH_SIZE: NonZeroUsize = match NonZeroUsize::new(import::DEFAULT_BATCH_SIZE) {
    Some(size) => size,
    None => NonZeroUsize::MIN,
};

/// `tally user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a local user (asks for the password).
    Add {
        /// Login name.
        name: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Make the user a system administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Set a user's password (asks for it).
    Passwd {
        /// Login name.
        name: String,
    },
    /// List users and their grants.
    List,
    /// Grant a role, on the system (no scope option) or on one scope.
    ///
    /// Roles: system_admin; heappe_administrator, heappe_maintainer,
    /// heappe_submitter, heappe_group_reporter, heappe_reporter,
    /// heappe_management_admin, heappe_manager (on a --group);
    /// eosc_project_admin, eosc_project_reader (on a --project),
    /// eosc_provider_admin (--project-provider), eosc_installation_admin
    /// (--installation), eosc_collection_owner/reader and the eosc_*_creator
    /// roles (system); apel_summary_reader; storage_reader.
    Grant(GrantArgs),
    /// Revoke a role granted with the same scope.
    Revoke(GrantArgs),
}

/// A role and where it applies.
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// Login name.
    pub name: String,
    /// Role name, e.g. `heappe_reporter`.
    pub role: String,
    /// On a project, by accounting string.
    #[arg(long, group = "scope")]
    pub project: Option<String>,
    /// On a user group, by id.
    #[arg(long, group = "scope")]
    pub group: Option<i64>,
    /// On a provider within a project (`project_providers` id).
    #[arg(long, group = "scope")]
    pub project_provider: Option<i64>,
    /// On an EOSC installation, by id.
    #[arg(long, group = "scope")]
    pub installation: Option<i64>,
    /// On an APEL site, by name.
    #[arg(long, group = "scope")]
    pub site: Option<String>,
    /// On a bucket, by name.
    #[arg(long, group = "scope")]
    pub bucket: Option<String>,
}

/// `tally publisher …`.
#[derive(Debug, Subcommand)]
pub enum PublisherCommand {
    /// Allow a DN (slash or RFC 4514 form) to publish, optionally for one site.
    Allow {
        /// The publisher's certificate subject DN.
        dn: String,
        /// Bind the publisher to this site (by name).
        #[arg(long)]
        site: Option<String>,
    },
    /// Ban a DN: refused even if it would otherwise be allowed.
    Ban {
        /// The publisher's certificate subject DN.
        dn: String,
    },
}

/// Parses `3600`, `90s`, `15m`, `24h`, `30d` into seconds.
fn parse_ttl(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?}"))?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        other => return Err(format!("unknown unit {other:?} (use s, m, h or d)")),
    };
    match number.checked_mul(factor) {
        Some(0) | None => Err(format!("out of range: {text:?}")),
        Some(secs) => Ok(secs),
    }
}

/// Runs `command` (anything but `schema`, which needs no configuration).
///
/// # Errors
/// A message for the operator.
pub async fn run(command: Command, config: Config) -> Result<(), String> {
    match command {
        Command::Serve { demo } => {
            let application = Application::build(config)
                .await
                .map_err(|e| e.to_string())?;
            if demo {
                serve_demo(&application).await.map_err(|e| e.to_string())?;
            }
            application
                .run_until(app::shutdown_signal())
                .await
                .map_err(|e| format!("server error: {e}"))
        }
        Command::Migrate => {
            app::open_database(&config)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Schema => Ok(()),
        Command::Demo { scale } => {
            let db = app::open_database(&config)
                .await
                .map_err(|e| e.to_string())?;
            // On PostgreSQL, subscribers of running servers hear of the
            // demo's usage; on SQLite this process has none.
            let summary = demo::load(&db, &EventBus::publisher(&db), scale)
                .await
                .map_err(|e| format!("demo: {e}"))?;
            print!("{summary}");
            println!(
                "\nTo log in: `tally serve --demo` creates the administrator `demo-admin` and prints\n\
                 its password and a token; or create your own with `tally user add NAME --admin`\n\
                 and `tally token --user NAME`."
            );
            Ok(())
        }
        Command::User(command) => {
            let db = app::open_database(&config)
                .await
                .map_err(|e| e.to_string())?;
            user(&db, command).await.map_err(|e| e.to_string())
        }
        Command::Token { user, ttl } => {
            let db = app::open_database(&config)
                .await
                .map_err(|e| e.to_string())?;
            let found = users::find(&db, &user).await.map_err(|e| e.to_string())?;
            let auth = app::build_authenticator(&config, &db)
                .await
                .map_err(|e| e.to_string())?;
            let token = auth
                .keys
                .issue(found.id, &found.username, ttl)
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        Command::Publisher(command) => {
            let db = app::open_database(&config)
                .await
                .map_err(|e| e.to_string())?;
            publisher(&db, command).await.map_err(|e| e.to_string())
        }
        Command::Import(ImportCommand::Slurm(args)) => import_slurm(&config, args).await,
    }
}

/// The administrator `tally serve --demo` creates.
const DEMO_ADMIN: &str = "demo-admin";

/// `tally serve --demo`: loads the demo into an empty database, (re)sets the
/// password of `demo-admin` and prints how to use it, on standard output only
/// (never in the logs).
async fn serve_demo(application: &Application) -> Result<(), Error> {
    let state = application.state();
    let db = &state.db;
    if demo::is_empty(db).await? {
        println!("loading the demo data set…");
        print!("{}", demo::load(db, &state.events, 1).await?);
    } else {
        println!("the database already holds projects: the demo data set is not loaded");
    }
    let password = demo::random_password()?;
    let admin = match users::find(db, DEMO_ADMIN).await {
        Ok(user) => {
            users::set_password(db, DEMO_ADMIN, &password).await?;
            users::grant(db, DEMO_ADMIN, "system_admin", Scope::System).await?;
            user
        }
        Err(Error::NotFound(_)) => users::add(db, DEMO_ADMIN, None, &password, true).await?,
        Err(other) => return Err(other),
    };
    let token = state
        .auth
        .keys
        .issue(admin.id, &admin.username, 7 * 86_400)
        .map_err(|e| Error::internal(&e))?;
    let scheme = if state.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = application
        .local_addr()
        .map_or_else(|_| state.config.bind.to_string(), |a| a.to_string());
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Duration::days(100);
    println!(
        "\nTally demo at {scheme}://{url}\n\
         \x20 user:     {DEMO_ADMIN}\n\
         \x20 password: {password}\n\
         \x20 token (system administrator, valid 7 days):\n{token}\n\n\
         Try:\n\
         \x20 curl -H 'Authorization: Bearer {token}' \\\n\
         \x20      '{scheme}://{url}/api/v1/usage?from={from}&to={today}'\n"
    );
    Ok(())
}

/// `tally import slurm`: prints the summary; an error when anything was not
/// imported, so that the exit status says so.
async fn import_slurm(config: &Config, args: SlurmImportArgs) -> Result<(), String> {
    let bytes = if args.file == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        bytes
    } else {
        std::fs::read(&args.file).map_err(|e| format!("cannot read {}: {e}", args.file))?
    };
    // A stray non-UTF-8 byte (a job name in Latin-1) must not stop the import.
    let text = String::from_utf8_lossy(&bytes);
    let options = import::ImportOptions {
        cluster: args.cluster,
        default_project: args.project,
        default_partition: args.partition,
        format: args.format,
        delimiter: args.delimiter,
        correction: args.correction,
        dry_run: args.dry_run,
        batch_size: args.batch_size.get(),
    };
    let db = app::open_database(config)
        .await
        .map_err(|e| e.to_string())?;
    // On PostgreSQL, subscribers of running servers hear of each committed
    // batch; on SQLite only a serving process's subscribers would, and this
    // process has none.
    let summary = import::import_slurm(&db, &EventBus::publisher(&db), &text, &options)
        .await
        .map_err(|e| e.to_string())?;
    print!("{summary}");
    if summary.is_clean() {
        Ok(())
    } else {
        Err(format!(
            "not everything was imported: {} skipped, {} rejected, {} unreadable lines",
            summary.skipped.len(),
            summary.rejected.len(),
            summary.errors.len()
        ))
    }
}

async fn user(db: &sea_orm::DatabaseConnection, command: UserCommand) -> Result<(), Error> {
    match command {
        UserCommand::Add { name, email, admin } => {
            let password = read_password()?;
            let user = users::add(db, &name, email.as_deref(), &password, admin).await?;
            println!(
                "created user {} (id {}){}",
                user.username,
                user.id,
                if admin { ", system administrator" } else { "" }
            );
        }
        UserCommand::Passwd { name } => {
            let password = read_password()?;
            users::set_password(db, &name, &password).await?;
            println!("password of {name} changed");
        }
        UserCommand::List => {
            for (user, grants) in users::list(db).await? {
                let grants: Vec<String> = grants
                    .iter()
                    .map(|g| {
                        let (kind, id) = g.scope.to_row();
                        if kind == "system" {
                            g.role.clone()
                        } else {
                            format!("{}@{kind}:{id}", g.role)
                        }
                    })
                    .collect();
                println!(
                    "{}\t{}\t{}{}",
                    user.id,
                    user.username,
                    grants.join(","),
                    if user.disabled { "\t(disabled)" } else { "" }
                );
            }
        }
        UserCommand::Grant(args) => {
            let scope = scope(db, &args).await?;
            users::grant(db, &args.name, &args.role, scope).await?;
            println!("granted {} to {}", args.role, args.name);
        }
        UserCommand::Revoke(args) => {
            let scope = scope(db, &args).await?;
            if users::revoke(db, &args.name, &args.role, scope).await? {
                println!("revoked {} from {}", args.role, args.name);
            } else {
                println!("{} did not hold {} on that scope", args.name, args.role);
            }
        }
    }
    Ok(())
}

async fn publisher(
    db: &sea_orm::DatabaseConnection,
    command: PublisherCommand,
) -> Result<(), Error> {
    let (dn, access, site) = match command {
        PublisherCommand::Allow { dn, site } => (dn, "allowed", site),
        PublisherCommand::Ban { dn } => (dn, "banned", None),
    };
    let dn = Dn::parse(&dn).map_err(|e| Error::BadRequest(e.to_string()))?;
    let site_id = match site {
        Some(name) => Some(
            sites::Entity::find_by_name(&name)
                .one(db)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no site {name:?}")))?
                .id,
        ),
        None => None,
    };
    cloud::set_publisher(db, &dn, access, site_id).await?;
    println!("{} is {access}", dn.to_slash());
    Ok(())
}

/// The scope the options of `args` name (none: the system).
async fn scope(db: &sea_orm::DatabaseConnection, args: &GrantArgs) -> Result<Scope, Error> {
    if let Some(accounting) = &args.project {
        let project = projects::Entity::find_by_accounting_string(accounting)
            .one(db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no project {accounting:?}")))?;
        return Ok(Scope::Project(project.id));
    }
    if let Some(name) = &args.site {
        let site = sites::Entity::find_by_name(name)
            .one(db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no site {name:?}")))?;
        return Ok(Scope::Site(site.id));
    }
    if let Some(name) = &args.bucket {
        let bucket = buckets::Entity::find_by_name(name)
            .one(db)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no bucket {name:?}")))?;
        return Ok(Scope::Bucket(bucket.id));
    }
    Ok(
        match (args.group, args.project_provider, args.installation) {
            (Some(id), _, _) => Scope::UserGroup(id),
            (_, Some(id), _) => Scope::ProjectProvider(id),
            (_, _, Some(id)) => Scope::Installation(id),
            _ => Scope::System,
        },
    )
}

/// A password from the terminal (asked twice) or one line of standard input.
fn read_password() -> Result<String, Error> {
    let failed = |e: std::io::Error| Error::BadRequest(format!("cannot read the password: {e}"));
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(failed)?;
        let second = rpassword::prompt_password("Again: ").map_err(failed)?;
        if first != second {
            return Err(Error::BadRequest("the passwords differ".to_owned()));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(failed)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_with_units() {
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert_eq!(parse_ttl("15m"), Ok(900));
        assert_eq!(parse_ttl("24h"), Ok(86_400));
        assert_eq!(parse_ttl("30d"), Ok(2_592_000));
        for bad in ["", "h", "0", "-5m", "3w", "99999999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }
}
