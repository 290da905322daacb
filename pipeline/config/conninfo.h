// libpq connection strings (serve.postgres) as the logs, `pipeline config`
// and the run history show them: any password replaced by "***". Both
// forms: `host=db port=5432 password='x y'` and
// `postgresql://user:secret@db/recs?password=x`.
#pragma once

#include <string>

namespace recs {

std::string redact_conninfo(const std::string& conninfo);

}  // namespace recs
