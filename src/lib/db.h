#ifndef WAN_LIB_DB_H
#define WAN_LIB_DB_H
/*
 * The state database, <state>/state.db: SQLite in WAL mode with
 * synchronous=FULL and foreign keys on. The schema is versioned
 * (PRAGMA user_version) and migrated forward on open.
 *
 * Invariants:
 *  1. A row never points at a file that is not durable: files are
 *     published (fsync, rename, fsync dir) before their row is inserted,
 *     and rows are deleted before their files (STYLE.md "publish").
 *  2. The deployment row (intent) is committed before any switch.
 */
#include <sqlite3.h>
#include <stdint.h>

struct wan_db;

int wan_db_open(struct wan_db **out, const char *state_path);
/* The same through dirfd, the open state folder (-1: by path): SQLite is
 * given /proc/self/fd/<dirfd>/state.db where that works; messages name
 * <state_path>/state.db. */
int wan_db_open_at(struct wan_db **out, const char *state_path, int dirfd);
void wan_db_close(struct wan_db *db);
sqlite3 *wan_db_handle(struct wan_db *db);
/* Run SQL with no result rows. */
int wan_db_exec(struct wan_db *db, const char *sql);
int wan_db_begin(struct wan_db *db);   /* BEGIN IMMEDIATE */
int wan_db_commit(struct wan_db *db);
void wan_db_rollback(struct wan_db *db);
/* Prepare or fail with a message naming the statement. */
int wan_db_prepare(struct wan_db *db, sqlite3_stmt **st, const char *sql);
/* Record an audit event (append-only). Never fails the caller: errors
 * are logged. */
void wan_db_event(struct wan_db *db, const char *command, const char *model,
		  const char *deployment_id, const char *what,
		  const char *outcome, const char *detail);
/* The schema version this build writes. */
int wan_db_schema_version(void);
/* PRAGMA integrity_check == "ok" and foreign_key_check empty. */
int wan_db_check(struct wan_db *db);

#endif
