include_guard(GLOBAL)

# iterdeck_add_qtest(NAME SOURCES src... [LIBS lib...] [LABELS label...] [TIMEOUT seconds] [ENVIRONMENT VAR=value...])
#
# Registers one QtTest executable as a ctest test. Every test runs with the offscreen
# platform, forced asserts, the English C locale and a timeout; labels let slow or
# peer-dependent scenarios run alone (ctest -L / -LE).
function(iterdeck_add_qtest name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "TIMEOUT" "SOURCES;LIBS;LABELS;ENVIRONMENT")
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  if(NOT arg_LABELS)
    set(arg_LABELS unit)
  endif()
  add_executable(${name} ${arg_SOURCES})
  target_compile_definitions(${name} PRIVATE QT_FORCE_ASSERTS
    ITERDECK_FIXTURES_DIR="${ITERDECK_FIXTURES_DIR}"
    ITERDECK_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    ITERDECK_BINARY_DIR="${PROJECT_BINARY_DIR}")
  target_link_libraries(${name} PRIVATE iterdeck_settings iterdeck_testutil Qt6::Test ${arg_LIBS})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    TIMEOUT ${arg_TIMEOUT}
    LABELS "${arg_LABELS}"
    ENVIRONMENT "QT_QPA_PLATFORM=offscreen;LANG=C.UTF-8;LC_ALL=C.UTF-8;LANGUAGE=en;QT_FORCE_STDERR_LOGGING=1;${arg_ENVIRONMENT}")
endfunction()
