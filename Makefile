# commerce: PGXS build. `make`, `make install`, `make installcheck` are the
# standard PGXS targets; `make demo`, `make test` and `make bench` run on a
# throwaway local cluster through test/harness.sh (see README.md).
#
# SQL layout (docs/architecture.md, "Where things live"):
#   sql/src/<module>/<rule>.sql  the one editable definition of every object;
#                                sql/src/MANIFEST lists them in install order
#   sql/commerce--$(EXTVERSION).sql
#                                the install script of the current version,
#                                built here from the manifest (never edited)
#   sql/base/, sql/updates/      released scripts, frozen: sql/released.sha256
#                                holds their checksums; the one open upgrade
#                                script is commerce--<previous>--$(EXTVERSION).sql

EXTENSION    = commerce
# The version is written once, in commerce.control.
EXTVERSION  := $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" commerce.control)

MANIFEST     = sql/src/MANIFEST
MODULE_SRC   = $(addprefix sql/src/,$(shell grep -v '^[\#@]' $(MANIFEST)))

MODULE_big   = commerce
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA_built   = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA         = $(wildcard sql/base/$(EXTENSION)--*.sql) $(sort $(wildcard sql/updates/$(EXTENSION)--*--*.sql))
DOCS         =

# pg_regress suites: every sql/<module>_<topic>.sql (the built install script
# lives in sql/ too and is not a suite).
REGRESS      = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --load-extension=plpgsql

# Strict build (PostgreSQL contrib / pg_cron style): every warning is an error.
# -Wno-unused-parameter because PostgreSQL's own inline headers (ilist.h,
# bufpage.h) and the fmgr calling convention (PG_FUNCTION_ARGS) leave
# parameters unused; the C sources themselves have none.
PG_CPPFLAGS  = -I$(srcdir)/src -std=gnu99 -Wall -Wextra -Werror -Wno-unused-parameter \
               -Wmissing-prototypes
SHLIB_LINK   = -ljansson

PG_CONFIG   ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS        := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(wildcard src/*.h)

# The install script: the extension's objects of every module source in
# manifest order, and their provisioned schema as commerce._schema_ddl()
# (sql/src/assemble.pl says which statement goes where).
$(DATA_built): $(MANIFEST) $(MODULE_SRC) sql/src/assemble.pl commerce.control
	@perl sql/src/assemble.pl $(MANIFEST) $(EXTVERSION) > $@.tmp
	@mv $@.tmp $@

.PHONY: demo test bench
demo:
	bash test/harness.sh demo
test:
	bash test/harness.sh test
bench:
	bash test/harness.sh bench
