/*  migrations.h: the SQL migrations compiled into the scheduler (generated from sql/).  */
#ifndef ST__MIGRATIONS_H
#define ST__MIGRATIONS_H

typedef struct {
    int version; /*  NNN of sql/NNN_name.sql; 0 ends the table  */
    const char *name;
    const char *sql;
} st__migration_t;

extern const st__migration_t st__migrations[];

#endif
