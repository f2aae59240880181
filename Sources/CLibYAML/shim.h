// The system's libyaml (Debian: libyaml-dev), read by VampDSL's event parser.
#include <yaml.h>
