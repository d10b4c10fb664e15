import Hummingbird

/// The box-office web page at `/`: its HTML, styles, modules and icon (see `WebAssets`).
struct WebController {
    let assets: WebAssets

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        for path in assets.paths {
            let route = RouterPath(path.isEmpty ? "/" : path)
            routes.get(route) { request, _ in
                assets.response(for: path, ifNoneMatch: request.headers[.ifNoneMatch])
            }
            // HEAD: the same headers, no body (link checkers and `curl -I` ask this way).
            routes.on(route, method: .head) { request, _ in
                assets.response(for: path, ifNoneMatch: request.headers[.ifNoneMatch]).createHeadResponse()
            }
        }
    }
}
