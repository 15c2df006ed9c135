/*  migrations.h: the SQL migrations compiled into the scheduler (generated from sql/).  */
#ifndef ST_MIGRATIONS_H
#define ST_MIGRATIONS_H

typedef struct {
    int version; /*  NNN of sql/NNN_name.sql; 0 ends the table  */
    const char *name;
    const char *sql;
} st_migration_t;

extern const st_migration_t st_migrations[];

#endif
