// affine helpers against nibabel's definitions.
#include "dwipack/process/affine.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace dwipack;

TEST(Affine, AllcloseIsNumpys) {
  const double b[2] = {1.0, 100.0};
  const double a_ok[2] = {1.0 + 1.9e-5, 100.0 + 1e-3}; // |a-b| <= 1e-5 + 1e-5*|b|
  const double a_bad[2] = {1.0 + 2.1e-5, 100.0};
  EXPECT_TRUE(allclose(a_ok, b, 2, 1e-5, 1e-5));
  EXPECT_FALSE(allclose(a_bad, b, 2, 1e-5, 1e-5));
  const double nan[2] = {std::nan(""), 100.0};
  EXPECT_FALSE(allclose(nan, b, 2, 1e-5, 1e-5));
}

TEST(Affine, Axcodes) {
  EXPECT_EQ(axcodes(identity_affine()), "RAS");
  Affine lps = {-2, 0, 0, 10, 0, -2, 0, 10, 0, 0, 2, 0, 0, 0, 0, 1};
  EXPECT_EQ(axcodes(lps), "LPS");
  Affine permuted = {0, 0, 1.5, 0, -1.5, 0, 0, 0, 0, 1.5, 0, 0, 0, 0, 0, 1}; // x->P, y->S, z->R
  EXPECT_EQ(axcodes(permuted), "PSR");
  // oblique by 20 degrees about z: still closest to RAS
  const double c = std::cos(0.35), s = std::sin(0.35);
  Affine oblique = {1.25 * c, -1.25 * s, 0, 0, 1.25 * s, 1.25 * c, 0, 0, 0, 0, 1.25, 0, 0, 0, 0, 1};
  EXPECT_EQ(axcodes(oblique), "RAS");
}
