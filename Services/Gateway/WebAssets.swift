import Crypto
import Foundation
import Hummingbird
import NIOCore

/// The box-office web page: the files of `Public/`, read once at start-up and served from memory
/// with their content type and a strong ETag (a hash of the bytes), so an unchanged file costs a 304.
struct WebAssets: Sendable {
    struct Asset: Sendable {
        let bytes: ByteBuffer
        let contentType: String
        let etag: String
    }

    /// Every file by its URL path without the leading slash (`app/main.js`); `index.html` is also `/`.
    let files: [String: Asset]

    /// The page's content types: modules must be `text/javascript`, or the browser refuses them.
    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "ico": "image/x-icon",
        "woff2": "font/woff2", "json": "application/json", "webmanifest": "application/manifest+json",
        "txt": "text/plain; charset=utf-8",
    ]

    /// The page talks to this origin only, and nothing may frame it.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        HTTPFields.Element.Name("X-Content-Type-Options")!: "nosniff",
        HTTPFields.Element.Name("Referrer-Policy")!: "no-referrer",
        // Always revalidate: a 304 is cheap, and a new release is seen at once.
        .cacheControl: "no-cache",
    ]

    /// Reads every file under `folder` but hidden ones (`.DS_Store`, an editor's swap file); a file of
    /// an unknown type is an error, not a guess.
    init(folder: URL) throws {
        var files: [String: Asset] = [:]
        let root = folder.resolvingSymlinksInPath().standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: root) else { throw WebAssetsError.missingFolder(root) }
        for case let relative as String in walker {
            var isFolder: ObjCBool = false
            let path = root + "/" + relative
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue,
                  !relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) else { continue }
            let kind = (relative as NSString).pathExtension.lowercased()
            guard let contentType = Self.contentTypes[kind] else { throw WebAssetsError.unknownType(relative) }
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let digest = SHA256.hash(data: data).prefix(12).map { String(format: "%02x", $0) }.joined()
            files[relative] = Asset(bytes: ByteBuffer(bytes: data), contentType: contentType, etag: "\"\(digest)\"")
        }
        guard files["index.html"] != nil else { throw WebAssetsError.missingFolder(root + "/index.html") }
        self.files = files
    }

    /// The page shipped with the gateway (SwiftPM copies `Public/` into the executable's resource bundle).
    static func bundled() throws -> WebAssets {
        guard let folder = Bundle.module.url(forResource: "Public", withExtension: nil) else {
            throw WebAssetsError.missingFolder("the gateway's resource bundle has no Public folder")
        }
        return try WebAssets(folder: folder)
    }

    /// The URL paths served: each file, and `/` for the page itself.
    var paths: [String] { [""] + files.keys.sorted() }

    func response(for path: String, ifNoneMatch: String?) -> Response {
        let asset = files[path.isEmpty ? "index.html" : path]!
        var headers = Self.securityHeaders
        headers[.eTag] = asset.etag
        if let ifNoneMatch, ETag.matches(ifNoneMatch, asset.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: asset.bytes))
    }
}

enum WebAssetsError: Error, CustomStringConvertible {
    case missingFolder(String)
    case unknownType(String)
    case clash(String)

    var description: String {
        switch self {
        case .missingFolder(let path): "web page files not found: \(path)"
        case .unknownType(let file): "web page file of unknown type: \(file)"
        case .clash(let path): "web page file /\(path) would hide the API's route of the same path"
        }
    }
}

/// Strong entity tags and `If-None-Match` (RFC 9110 §13.1.2), for the seat list and the page's files.
enum ETag {
    /// Whether an `If-None-Match` value names `etag` (a list, weak forms and `*` included).
    static func matches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            let value = candidate.trimmingCharacters(in: .whitespaces)
            return value == "*" || value == etag || value == "W/\(etag)"
        }
    }
}
