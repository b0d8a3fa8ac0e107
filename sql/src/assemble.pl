#!/usr/bin/perl
# sql/src/assemble.pl: builds the install script of a version from the module
# sources listed in sql/src/MANIFEST (called by the Makefile; never edit its
# output).
#
# Every module source holds two kinds of statements:
#   - the extension's own objects (functions, procedures, types, domains, the
#     commerce_api schema, their comments and privileges): written to the
#     install script in manifest order, so CREATE EXTENSION creates them;
#   - the provisioned schema (tables, indexes, triggers, views, sequences,
#     their comments and privileges, seeded rows, append-only declarations):
#     collected, in manifest order, into the body of commerce._schema_ddl(),
#     which CALL commerce.provision() runs once per database.
# Tenant data therefore lives in ordinary tables that pg_dump dumps and
# restores like any other (docs/scale-out.md). The manifest line "@schema"
# marks where commerce._schema_ddl() is written.
#
# Usage: perl sql/src/assemble.pl sql/src/MANIFEST VERSION > commerce--VERSION.sql
use strict;
use warnings;

my ($manifest, $version) = @ARGV;
die "usage: assemble.pl MANIFEST VERSION\n" unless defined $version;
(my $srcdir = $manifest) =~ s{/[^/]*$}{};

# A statement of the provisioned schema, by its first words. The views of
# commerce_api are not: they are the extension's API shapes (the row types its
# list functions return, selecting nothing themselves).
my $SCHEMA = qr/^(?:CREATE\s+(?:UNIQUE\s+)?INDEX|CREATE\s+TABLE|CREATE\s+TRIGGER
                 |CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?!commerce_api\.)|CREATE\s+SEQUENCE|CREATE\s+POLICY
                 |ALTER\s+TABLE|INSERT\s+INTO
                 |COMMENT\s+ON\s+(?:TABLE|COLUMN|VIEW\s+(?!commerce_api\.)|TRIGGER|INDEX|POLICY|CONSTRAINT|SEQUENCE)\b
                 |SELECT\s+commerce\._(?:declare_append_only|declare_audited|isolate_tenants)\b
                 |(?:GRANT|REVOKE)\s[^;]*?\sON\s+(?:TABLE\s+)?commerce\.\w+\s+(?:TO|FROM)\b)/xs;

# Split SQL text into statements, each carrying the comments and blank lines
# before it; quotes, dollar quotes and comments are skipped over.
sub statements {
    my ($text) = @_;
    my (@out, $cur);
    $cur = '';
    while (length $text) {
        if ($text =~ s/^(--[^\n]*\n?|\s+|[^-'\$;\s]+|-)//) {
            $cur .= $1;
        } elsif ($text =~ s/^('(?:[^']|'')*')//) {
            $cur .= $1;
        } elsif ($text =~ /^(\$[A-Za-z_]*\$)/) {
            my $tag = $1;
            my $end = index($text, $tag, length $tag);
            die "unterminated dollar quote $tag\n" if $end < 0;
            $cur .= substr($text, 0, $end + length $tag, '');
        } elsif ($text =~ s/^(\$)//) {
            $cur .= $1;
        } elsif ($text =~ s/^;[ \t]*\n?//) {
            push @out, $cur . ";\n";
            $cur = '';
        } else {
            die "cannot split near: " . substr($text, 0, 40) . "\n";
        }
    }
    push @out, $cur if $cur =~ /\S/;
    return @out;
}

# The first words of a statement, without the comments before it.
sub head {
    my ($s) = @_;
    $s =~ s/^(?:\s+|--[^\n]*\n)*//;
    return $s;
}

my @files;
open my $mf, '<', $manifest or die "$manifest: $!\n";
while (<$mf>) {
    chomp;
    next if /^#/ || !/\S/;
    push @files, $_;
}
close $mf;

my (@ext, $schema);
$schema = '';
for my $f (@files) {
    next if $f eq '@schema';
    open my $fh, '<', "$srcdir/$f" or die "$srcdir/$f: $!\n";
    my $text = do { local $/; <$fh> };
    close $fh;
    my ($e, $s) = ('', '');
    for my $st (statements($text)) {
        if (head($st) =~ $SCHEMA) { $s .= $st; } else { $e .= $st; }
    }
    push @ext, [$f, $e];
    $schema .= "\n-- ==== sql/src/$f\n$s" if $s =~ /\S/;
    die "sql/src/$f: the provisioned schema may not use the tag \$ddl\$\n"
        if $s =~ /\$ddl\$/;
}

print "-- commerce $version: install script built by make from sql/src/MANIFEST.\n",
      "-- Do not edit: change the module sources (sql/src/<module>/<rule>.sql) and\n",
      "-- the open upgrade script (sql/updates/commerce--<previous>--$version.sql).\n",
      "\n\\echo Use \"CREATE EXTENSION commerce\" to load this file. \\quit\n",
      "\n-- The tables are not created here but by CALL commerce.provision(): function\n",
      "-- bodies that read them are checked when they first run (and by plpgsql_check).\n",
      "SET check_function_bodies = false;\n";
for my $f (@files) {
    if ($f eq '@schema') {
        print "\n-- ==== the provisioned schema (tables.sql and the triggers, indexes and views of every module)\n\n",
              "-- The statements CALL commerce.provision() runs: every table, index, trigger and view of\n",
              "-- the modules above, in manifest order.\n",
              "CREATE FUNCTION commerce._schema_ddl() RETURNS text\n",
              "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS \$commerce_schema\$ SELECT \$ddl\$$schema\$ddl\$::text \$commerce_schema\$;\n",
              "COMMENT ON FUNCTION commerce._schema_ddl() IS\n",
              "  'The provisioned schema of this version: the tables, indexes, triggers and views CALL commerce.provision() creates.';\n";
        next;
    }
    my ($e) = map { $_->[1] } grep { $_->[0] eq $f } @ext;
    print "\n-- ==== sql/src/$f\n\n$e" if $e =~ /\S/;
}
