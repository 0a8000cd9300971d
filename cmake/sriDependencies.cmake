# Finds the libraries that sri's headers use. Included by the top-level CMakeLists.txt and by the
# installed sriConfig.cmake, so a consumer resolves the same dependencies as the build did.
include(CMakeFindDependencyMacro)

find_dependency(Eigen3 3.4 NO_MODULE)
find_dependency(nlohmann_json 3.10)
find_dependency(fmt 8)

if(NOT DEFINED SRI_WITH_TORCH OR SRI_WITH_TORCH)
  find_dependency(Torch)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(SRI_PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
  pkg_check_modules(SRI_CAIRO REQUIRED IMPORTED_TARGET cairo)
  # TorchConfig.cmake defines the imported target `torch` in both libtorch 1.13 and 2.x.
  set(SRI_TORCH_TARGET torch)
endif()
