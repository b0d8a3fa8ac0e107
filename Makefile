# commerce: PGXS build. `make`, `make install`, `make installcheck` are the
# standard PGXS targets; `make demo`, `make test` and `make bench` run on a
# throwaway local cluster through test/harness.sh (see README.md).

EXTENSION    = commerce
EXTVERSION   = 0.6.0

MODULE_big   = commerce
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA         = $(sort $(wildcard sql/commerce--*.sql))
DOCS         =

# pg_regress suites: every sql/<name>.sql that is not an install script.
REGRESS      = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/commerce--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --load-extension=plpgsql

PG_CPPFLAGS  = -I$(srcdir)/src -std=gnu99 -Wall -Wmissing-prototypes
SHLIB_LINK   = -ljansson

PG_CONFIG   ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS        := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(wildcard src/*.h)

.PHONY: demo test bench
demo:
	bash test/harness.sh demo
test:
	bash test/harness.sh test
bench:
	bash test/harness.sh bench
