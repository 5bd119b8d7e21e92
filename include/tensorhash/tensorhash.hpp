/**
 * @file tensorhash.hpp
 * @brief Umbrella header: every public header the compiler in use can compile.
 */
#pragma once

#include <tensorhash/canonical.hpp>
#include <tensorhash/config.hpp>
#include <tensorhash/digest.hpp>
#include <tensorhash/dtype.hpp>
#include <tensorhash/error.hpp>
#include <tensorhash/hasher.hpp>
#include <tensorhash/host.hpp>
#include <tensorhash/merkle.hpp>
#include <tensorhash/modes.hpp>
#include <tensorhash/view.hpp>
