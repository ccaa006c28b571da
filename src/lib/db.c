/*
 * State database. See db.h for the invariants.
 *
 * Tables:
 *   deployments(id, status, ...)          one row per deploy/rollback
 *   deployment_models(deployment_id, model, from_release, to_release, ...)
 *   releases(model, id, ...)              releases present in the store
 *   events(...)                           append-only audit trail
 *   stat_cache(path, dev, ino, ...)       git-index-like cache of hashes
 *   samples, alerts, alert_events         the monitor
 *   backups(model, release, ...)          snapshots written to backup_path
 */
#include "util/common.h"
#include "util/path.h"
#include "lib/db.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

struct wan_db {
	sqlite3 *h;
};

static const char *const migrations[] = {
	/* 1 */
	"CREATE TABLE deployments("
	" id TEXT PRIMARY KEY,"
	" kind TEXT NOT NULL DEFAULT 'deploy',"   /* deploy | rollback */
	" status TEXT NOT NULL,"                  /* pending ingesting switching verifying completed failed rolled_back interrupted */
	" started REAL NOT NULL,"
	" updated REAL NOT NULL,"
	" finished REAL,"
	" user TEXT, pid INTEGER, command TEXT,"
	" bytes_total INTEGER NOT NULL DEFAULT 0,"
	" bytes_copied INTEGER NOT NULL DEFAULT 0,"
	" bytes_dedup INTEGER NOT NULL DEFAULT 0,"
	" error TEXT,"
	" report TEXT);"
	"CREATE INDEX deployments_by_started ON deployments(started);"
	"CREATE TABLE deployment_models("
	" deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,"
	" model TEXT NOT NULL,"
	" from_release TEXT,"
	" to_release TEXT,"
	" switched INTEGER NOT NULL DEFAULT 0,"
	" adopted INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(deployment_id, model));"
	"CREATE TABLE releases("
	" model TEXT NOT NULL,"
	" id TEXT NOT NULL,"
	" created REAL NOT NULL,"
	" spec TEXT, source TEXT,"
	" files INTEGER NOT NULL, bytes INTEGER NOT NULL,"
	" stats TEXT,"
	" smoke_seconds REAL,"
	" PRIMARY KEY(model, id));"
	"CREATE TABLE events("
	" id INTEGER PRIMARY KEY,"
	" ts REAL NOT NULL, user TEXT, pid INTEGER, command TEXT,"
	" model TEXT, deployment_id TEXT, what TEXT NOT NULL, outcome TEXT, detail TEXT);"
	"CREATE TABLE stat_cache("
	" path TEXT PRIMARY KEY,"
	" dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,"
	" mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,"
	" sha256 TEXT NOT NULL, recorded_ns INTEGER NOT NULL);"
	"CREATE TABLE samples("
	" ts REAL NOT NULL, metric TEXT NOT NULL, labels TEXT NOT NULL DEFAULT '', value REAL NOT NULL);"
	"CREATE INDEX samples_by_metric ON samples(metric, labels, ts);"
	"CREATE INDEX samples_by_ts ON samples(ts);"
	"CREATE TABLE alerts("
	" name TEXT NOT NULL, labels TEXT NOT NULL DEFAULT '',"
	" state TEXT NOT NULL, severity TEXT, value REAL, summary TEXT,"
	" active_since REAL, fired_at REAL, resolved_at REAL, last_eval REAL,"
	" last_sent REAL,"
	" PRIMARY KEY(name, labels));"
	"CREATE TABLE alert_events("
	" id INTEGER PRIMARY KEY, ts REAL NOT NULL, name TEXT NOT NULL, labels TEXT,"
	" from_state TEXT, to_state TEXT NOT NULL, value REAL);"
	"CREATE TABLE backups("
	" model TEXT NOT NULL, release TEXT NOT NULL, created REAL NOT NULL,"
	" bytes INTEGER NOT NULL DEFAULT 0, stored_bytes INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(model, release));",
};

int wan_db_schema_version(void)
{
	return (int)ARRAY_SIZE(migrations);
}

sqlite3 *wan_db_handle(struct wan_db *db)
{
	return db->h;
}

int wan_db_exec(struct wan_db *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		int sys = sqlite3_system_errno(db->h);
		int code = (rc == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT) ? WAN_ENOSPC :
			   (rc == SQLITE_IOERR) ? WAN_EIO :
			   (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) ? WAN_ECORRUPT :
			   WAN_ERROR;
		/* Say what the operating system said (e.g. "No space left on
		 * device" behind SQLite's "disk I/O error"). */
		if (sys && (rc & 0xff) == SQLITE_IOERR)
			wan_err(code, "state database: %s: %s", msg ? msg : sqlite3_errstr(rc),
				strerror(sys));
		else
			wan_err(code, "state database: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return code;
	}
	return 0;
}

int wan_db_begin(struct wan_db *db)
{
	return wan_db_exec(db, "BEGIN IMMEDIATE");
}

/* A COMMIT that fails may leave the transaction open (SQLite keeps it
 * after SQLITE_BUSY, and after SQLITE_NOMEM in the commit itself): it is
 * rolled back here, or every later statement of the process would run
 * inside it and be lost when the connection closes (found by t_oom's
 * per-site sweep: a deploy said "completed" with nothing recorded). */
int wan_db_commit(struct wan_db *db)
{
	int err = wan_db_exec(db, "COMMIT");

	if (err < 0)
		wan_db_rollback(db);
	return err;
}

void wan_db_rollback(struct wan_db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int wan_db_prepare(struct wan_db *db, sqlite3_stmt **st, const char *sql)
{
	int rc = sqlite3_prepare_v2(db->h, sql, -1, st, NULL);

	if (rc != SQLITE_OK)
		return wan_err(WAN_ERROR, "state database: cannot prepare '%.60s': %s",
			       sql, sqlite3_errmsg(db->h));
	return 0;
}

static int db_user_version(struct wan_db *db, int *out)
{
	sqlite3_stmt *st = NULL;
	int err;

	if ((err = wan_db_prepare(db, &st, "PRAGMA user_version")) < 0)
		return err;
	*out = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

static int db_migrate(struct wan_db *db)
{
	int v, err;
	char sql[64];

	if ((err = db_user_version(db, &v)) < 0)
		return err;
	if (v > (int)ARRAY_SIZE(migrations))
		return wan_err(WAN_ECORRUPT,
			       "state database schema version %d is newer than this wanctl (%d); upgrade wanctl",
			       v, (int)ARRAY_SIZE(migrations));
	for (; v < (int)ARRAY_SIZE(migrations); v++) {
		if ((err = wan_db_begin(db)) < 0)
			return err;
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
		if ((err = wan_db_exec(db, migrations[v])) < 0 ||
		    (err = wan_db_exec(db, sql)) < 0) {
			wan_db_rollback(db);
			return wan_err_prefix(err, "cannot migrate the state database to version %d", v + 1);
		}
		if ((err = wan_db_commit(db)) < 0)
			return err;
	}
	return 0;
}

int wan_db_open(struct wan_db **out, const char *state_path)
{
	return wan_db_open_at(out, state_path, -1);
}

/*
 * The state database through the held descriptor of the state folder:
 * SQLite is given "/proc/self/fd/<dirfd>/state.db", so the database and
 * its -journal, -wal and -shm files are reached from the folder wanctl
 * opened, not from a path a swapped folder could redirect (bug 13). The
 * unix VFS would canonicalise that name (readlink of the magic link back
 * to a path, opened later by path): this VFS is the default one with the
 * name kept as given.
 */
#define DB_FD_PREFIX "/proc/self/fd/"

static sqlite3_vfs db_fd_vfs, *db_fd_base;
static pthread_once_t db_fd_once = PTHREAD_ONCE_INIT;
static int db_fd_ok;

static int db_fd_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	if (strncmp(name, DB_FD_PREFIX, strlen(DB_FD_PREFIX)))
		return db_fd_base->xFullPathname(db_fd_base, name, n, out);
	if ((int)strlen(name) >= n)
		return SQLITE_CANTOPEN;
	sqlite3_snprintf(n, out, "%s", name);
	return SQLITE_OK;
}

static void db_fd_vfs_init(void)
{
	/* A copy of the default VFS: its methods keep their pAppData (the
	 * unix VFS finds its locking style there). */
	db_fd_base = sqlite3_vfs_find(NULL);
	if (!db_fd_base || access(DB_FD_PREFIX, X_OK) < 0)
		return;
	db_fd_vfs = *db_fd_base;
	db_fd_vfs.pNext = NULL;
	db_fd_vfs.zName = "wanctl-fd";
	db_fd_vfs.xFullPathname = db_fd_full_pathname;
	db_fd_ok = sqlite3_vfs_register(&db_fd_vfs, 0) == SQLITE_OK;
}

int wan_db_open_at(struct wan_db **out, const char *state_path, int dirfd)
{
	char path[WAN_PATH_MAX], name[64];
	const char *vfs = NULL, *open_name = path;
	struct wan_db *db;
	int rc, err;

	*out = NULL;
	if ((err = path_join(path, sizeof(path), state_path, "state.db")) < 0)
		return err;
	pthread_once(&db_fd_once, db_fd_vfs_init);
	if (dirfd >= 0 && db_fd_ok) {
		snprintf(name, sizeof(name), DB_FD_PREFIX "%d/state.db", dirfd);
		open_name = name;
		vfs = db_fd_vfs.zName;
	}
	db = calloc(1, sizeof(*db));
	if (!db)
		return wan_err(WAN_ENOMEM, "out of memory");
	rc = sqlite3_open_v2(open_name, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_FULLMUTEX, vfs);
	if (rc != SQLITE_OK) {
		err = wan_err(rc == SQLITE_CANTOPEN ? WAN_ENOTFOUND : WAN_ERROR,
			      "cannot open state database '%s': %s", path,
			      db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 10000);
	if ((err = wan_db_exec(db, "PRAGMA journal_mode=WAL")) < 0 ||
	    (err = wan_db_exec(db, "PRAGMA synchronous=FULL")) < 0 ||
	    (err = wan_db_exec(db, "PRAGMA foreign_keys=ON")) < 0 ||
	    (err = db_migrate(db)) < 0) {
		wan_err_prefix(err, "state database '%s'", path);
		goto fail;
	}
	*out = db;
	return 0;
fail:
	sqlite3_close(db->h);
	free(db);
	return err;
}

void wan_db_close(struct wan_db *db)
{
	if (!db)
		return;
	sqlite3_close(db->h);
	free(db);
}

void wan_db_event(struct wan_db *db, const char *command, const char *model,
		  const char *deployment_id, const char *what,
		  const char *outcome, const char *detail)
{
	sqlite3_stmt *st = NULL;
	char user[128];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (wan_db_prepare(db, &st,
			   "INSERT INTO events(ts,user,pid,command,model,deployment_id,what,outcome,detail)"
			   " VALUES(?,?,?,?,?,?,?,?,?)") < 0)
		return;
	sqlite3_bind_double(st, 1, (double)ts.tv_sec + ts.tv_nsec / 1e9);
	wan_user_name(user, sizeof(user));
	sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, (int)getpid());
	sqlite3_bind_text(st, 4, command, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, deployment_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, what, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, outcome, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, detail, -1, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

int wan_db_check(struct wan_db *db)
{
	sqlite3_stmt *st = NULL;
	int err, ok;

	if ((err = wan_db_prepare(db, &st, "PRAGMA integrity_check")) < 0)
		return err;
	ok = sqlite3_step(st) == SQLITE_ROW &&
	     !strcmp((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	if (!ok)
		return wan_err(WAN_ECORRUPT, "state database failed integrity_check");
	if ((err = wan_db_prepare(db, &st, "PRAGMA foreign_key_check")) < 0)
		return err;
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok)
		return wan_err(WAN_ECORRUPT, "state database failed foreign_key_check");
	return 0;
}
