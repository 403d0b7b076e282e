/* commands.h - entry points of the bmhguard subcommands; each returns the process exit code. */
#ifndef BMHGUARD_COMMANDS_H
#define BMHGUARD_COMMANDS_H

/* Exit codes shared by all subcommands. */
#define EXIT_OK		0
#define EXIT_FAILED	1	/* ran, but something it was asked to do failed */
#define EXIT_USAGE	2	/* bad flags, bad input, cannot start */

/* argv[0] is the subcommand's name. */
int cmd_rewrite(int argc, char **argv);	/* tool/cmd_rewrite.c */
int cmd_review(int argc, char **argv);	/* tool/cmd_review.c */
int cmd_serve(int argc, char **argv);	/* tool/cmd_serve.c */
int cmd_certs(int argc, char **argv);	/* tool/cmd_certs.c */
int cmd_repair(int argc, char **argv);	/* tool/cmd_repair.c */

#endif
