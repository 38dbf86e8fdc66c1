/*
 * libFuzzer target over the request layer: the body parser, field
 * validation, the response builder, the head checks and the arrival
 * time, fed arbitrary bytes. Built and run
 * by tests/it-fuzz.sh with -fsanitize=fuzzer,address,undefined.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config	 cfg;
	static int		 ready;
	struct reg_input	 in;
	struct resp_detail	 detail;
	struct req_head		 head;
	json_object		*root = NULL;
	enum resp_kind		 kind;
	enum req_route		 route;
	const char		*field, *reason;
	char			*text, *copy;
	size_t			 len;

	if (!ready) {
		config_defaults(&cfg);
		log_open("-", LOG_LEVEL_ERROR);
		ready = 1;
	}
	memset(&detail, 0, sizeof(detail));
	if (req_parse_body((const char *)data, size, &in, &root, &kind,
	    &detail) == 0) {
		kind = RESP_CREATED;
		if (reg_validate(&cfg, &in, &field, &reason) == -1) {
			kind = RESP_INVALID_FIELD;
			detail.field = field;
		}
	}
	if ((text = resp_build(kind, &detail, &len)) != NULL)
		free(text);
	if (root != NULL)
		json_object_put(root);

	/* The same bytes as FastCGI params: every string a peer controls. */
	if ((copy = malloc(size + 1)) == NULL)
		return (0);
	memcpy(copy, data, size);
	copy[size] = '\0';
	head.method = copy;
	head.uri = copy;
	head.content_type = copy;
	head.content_length = copy;
	memset(&detail, 0, sizeof(detail));
	(void)req_check_head(&cfg, &head, &route, &len, &kind, &detail);
	(void)req_arrival_ms(copy);
	free(copy);
	return (0);
}
