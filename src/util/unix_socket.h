// Unix stream sockets by path: non-blocking, close-on-exec.
#pragma once

#include <sys/un.h>

#include <string>

#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo {

Result<sockaddr_un> unix_address(const std::string& path);
Result<UniqueFd> unix_socket();
// Connects without blocking: a Unix stream socket connects at once or not at all (a full
// backlog, EAGAIN, counts as a refusal).
Result<UniqueFd> unix_connect(const std::string& path);
// Binds and listens on `path`. A socket file nobody accepts on (left by a process that
// ended without removing it) is replaced; one another program serves is an error ("PATH
// is in use by another program"), as is a path that exists and is not a socket. The
// caller removes the file when done.
Result<UniqueFd> unix_listen(const std::string& path, int backlog);

}  // namespace vireo
