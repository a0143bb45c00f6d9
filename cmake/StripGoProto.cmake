# Copies one of etcd's .proto files (Debian's golang-etcd-server-dev) without what it
# carries for Go generators and the HTTP gateway, so that protoc can compile it for
# C++ with nothing else installed: the gogoproto and google/api imports, the
# file-level (gogoproto.*) options, the (google.api.http) method options and the
# [(gogoproto.*) = ...] field options. The messages, fields and services are unchanged.
#
#   cmake -DIN=<file.proto> -DOUT=<file.proto> -P StripGoProto.cmake
if(NOT IN OR NOT OUT)
  message(FATAL_ERROR "usage: cmake -DIN=<proto> -DOUT=<proto> -P StripGoProto.cmake")
endif()
file(READ "${IN}" text)
string(REGEX REPLACE "import \"gogoproto/[^\"]*\";" "" text "${text}")
string(REGEX REPLACE "import \"google/api/[^\"]*\";" "" text "${text}")
string(REGEX REPLACE "option \\(gogoproto\\.[a-z_]+\\) = [a-z]+;" "" text "${text}")
# (one level of nested braces: additional_bindings)
string(REGEX REPLACE "option \\(google\\.api\\.http\\) = {([^{}]|{[^{}]*})*};" "" text "${text}")
string(REGEX REPLACE ",? *\\(gogoproto\\.[a-z_]+\\) = [^],]+" "" text "${text}")
string(REGEX REPLACE " *\\[ *\\]" "" text "${text}")
if(text MATCHES "gogoproto|google\\.api")
  message(FATAL_ERROR "${IN}: a Go or gateway option is left after stripping")
endif()
file(WRITE "${OUT}" "${text}")
