// swift-tools-version:5.5
// Swift wrapper of libfbup. libfbup must be installed where pkg-config finds it
// (`make install PREFIX=/usr/local` in the repository's root).
import PackageDescription

let package = Package(
    name: "Fbup",
    products: [
        .library(name: "Fbup", targets: ["Fbup"]),
    ],
    targets: [
        .systemLibrary(
            name: "CFbup",
            path: "Sources/CFbup",
            pkgConfig: "fbup"
        ),
        .target(name: "Fbup", dependencies: ["CFbup"], path: "Sources/Fbup"),
    ]
)
