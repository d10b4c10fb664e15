import Foundation
import Testing
import TestSupport
@testable import GatewayService

@Suite("The box-office page's files")
struct WebAssetsTests {
    static let page = Result { try WebAssets.bundled() }

    @Test("the bundle holds the page, its styles, its icon and its modules, each with its content type")
    func contentTypes() throws {
        let page = try Self.page.get()
        #expect(page.files["index.html"]?.contentType == "text/html; charset=utf-8")
        #expect(page.files["styles.css"]?.contentType == "text/css; charset=utf-8")
        #expect(page.files["favicon.svg"]?.contentType == "image/svg+xml")
        let modules = page.files.keys.filter { $0.hasSuffix(".js") }
        #expect(modules.count >= 10, "\(modules.sorted())")
        for module in modules { #expect(page.files[module]?.contentType == "text/javascript; charset=utf-8", "\(module)") }
        #expect(page.paths.first == "", "the page itself is served at /")
    }

    @Test("an unchanged file answers 304 to its ETag, a changed one 200 with the bytes")
    func etags() throws {
        let page = try Self.page.get()
        let first = page.response(for: "", ifNoneMatch: nil)
        let etag = try #require(first.headers[.eTag])
        #expect(first.status == .ok && etag.count == 26 && etag.hasPrefix("\"") && etag.hasSuffix("\""))
        #expect(first.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
        #expect(page.response(for: "index.html", ifNoneMatch: "\"other\", \(etag)").status == .notModified)
        #expect(page.response(for: "", ifNoneMatch: "W/\(etag)").status == .notModified)
        let changed = page.response(for: "", ifNoneMatch: "\"other\"")
        #expect(changed.status == .ok && changed.headers[.contentType] == "text/html; charset=utf-8")
        #expect(String(buffer: try #require(page.files["index.html"]).bytes).hasPrefix("<!doctype html>"))
        #expect(page.files["app/main.js"]?.etag != page.files["app/api.js"]?.etag)
    }

    @Test("every module import names a bundled file, and nothing is fetched from another host")
    func selfContained() throws {
        let page = try Self.page.get()
        let importPattern = try Regex(#"(?:import|from)\s*['"]([^'"]+)['"]"#)
        var imports = 0
        for (path, asset) in page.files where path.hasSuffix(".js") || path.hasSuffix(".html") || path.hasSuffix(".css") {
            let text = String(buffer: asset.bytes)
            let folder = (path as NSString).deletingLastPathComponent
            for match in text.matches(of: importPattern) {
                let specifier = String(match.output[1].substring ?? "")
                imports += 1
                #expect(specifier.hasPrefix("./") || specifier.hasPrefix("../"), "\(path) imports \(specifier)")
                let target = URL(fileURLWithPath: "/" + folder).appendingPathComponent(specifier).standardizedFileURL.path.dropFirst()
                #expect(page.files[String(target)] != nil, "\(path) imports \(specifier), which is not bundled")
            }
            // The SVG namespace is a name, not a fetch; anything else absolute would leave this origin.
            let outside = text.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
            #expect(!outside.contains("http://") && !outside.contains("https://"), "\(path) names another host")
        }
        #expect(imports >= 30, "only \(imports) imports found: is the pattern still right?")
    }

    @Test("hidden files are left out; a file of a type the gateway cannot name is refused at start-up, not served as a guess")
    func unknownType() throws {
        let folder = try TemporaryDirectory("web")
        defer { folder.remove() }
        try "<!doctype html>".write(toFile: folder.file("index.html"), atomically: true, encoding: .utf8)
        try "x".write(toFile: folder.file(".DS_Store"), atomically: true, encoding: .utf8)
        try "x".write(toFile: folder.file(".index.html.swp"), atomically: true, encoding: .utf8)
        #expect(try WebAssets(folder: URL(fileURLWithPath: folder.path)).paths == ["", "index.html"])
        try "MZ".write(toFile: folder.file("tool.exe"), atomically: true, encoding: .utf8)
        #expect(throws: WebAssetsError.self) { try WebAssets(folder: URL(fileURLWithPath: folder.path)) }
    }
}
