/* cmd_infer.h - `agora infer` (issue 5): the command and its usage, for the table in cli.c. */
#ifndef AGORA_CLI_CMD_INFER_H
#define AGORA_CLI_CMD_INFER_H

/* cmd_infer() runs a version's ONNX file on the node; returns 0, 1 (error,
 * printed) or 2 (usage). */
int cmd_infer(int argc, char **argv);
extern const char cmd_infer_usage[];

#endif
