# Project-wide compile settings, in one INTERFACE target that every target links.
include_guard(GLOBAL)

add_library(iterdeck_settings INTERFACE)
add_library(Iterdeck::Settings ALIAS iterdeck_settings)

target_compile_features(iterdeck_settings INTERFACE cxx_std_20)
set(CMAKE_CXX_EXTENSIONS OFF)

target_compile_definitions(iterdeck_settings INTERFACE
  QT_NO_CAST_FROM_ASCII
  QT_NO_CAST_TO_ASCII
  QT_NO_CAST_FROM_BYTEARRAY
  QT_NO_CONTEXTLESS_CONNECT
  QT_USE_QSTRINGBUILDER
  QT_NO_URL_CAST_FROM_STRING
  QT_NO_NARROWING_CONVERSIONS_IN_CONNECT
  QT_NO_FOREACH
  QT_NO_KEYWORDS
  QT_DISABLE_DEPRECATED_BEFORE=0x060400
  ITERDECK_VERSION="${PROJECT_VERSION}")

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(iterdeck_settings INTERFACE
    -Wall -Wextra -Wpedantic -Wnon-virtual-dtor -Wcast-align
    -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(iterdeck_settings INTERFACE -Wshadow=compatible-local)
  endif()
  if(ITERDECK_WERROR)
    target_compile_options(iterdeck_settings INTERFACE -Werror)
  endif()
elseif(MSVC)
  target_compile_options(iterdeck_settings INTERFACE /W4 /permissive- /utf-8)
  if(ITERDECK_WERROR)
    target_compile_options(iterdeck_settings INTERFACE /WX)
  endif()
endif()

if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND NOT ITERDECK_FUZZ)
  # Full RELRO, as Debian's hardening flags give packages: relocations resolved at start, then
  # made read-only. Link-time only.
  target_link_options(iterdeck_settings INTERFACE -Wl,-z,relro -Wl,-z,now)
endif()

if(ITERDECK_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ITERDECK_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  # Instrument our own code for coverage and catch memory and UB errors everywhere.
  target_compile_options(iterdeck_settings INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(iterdeck_settings INTERFACE -fsanitize=address,undefined)
endif()
