//! The zips of managed-runtime functions, as `sam build` and CloudFormation make them: a
//! `CodeUri` folder (a Python function's `requirements.txt` installed into it), or inline
//! source (`InlineCode`, `Code.ZipFile`) as the file `index.py` / `index.js`. The handler is
//! checked against the code before anything is created.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use regex::Regex;

use super::{
    LambdaError,
    runtimes::{self, Runtime, python},
    sandbox,
};

/// What a package step reports beside the zip: a substitution of interpreter versions.
#[derive(Debug)]
pub(crate) struct Packaged {
    /// The zip.
    pub(crate) zip: Vec<u8>,
    /// The line naming an interpreter standing in for the one asked for.
    pub(crate) notice: Option<String>,
}

/// Zips the folder `code` of `function` for `runtime`, with its requirements installed.
pub(crate) async fn package_folder(
    function: &str,
    runtime: Runtime,
    handler: &str,
    code: &Path,
) -> Result<Packaged, LambdaError> {
    let (function, handler, code) = (function.to_owned(), handler.to_owned(), code.to_owned());
    tokio::task::spawn_blocking(move || package_blocking(&function, runtime, &handler, &code))
        .await
        .map_err(|e| LambdaError::io("package the function", std::io::Error::other(e)))?
}

fn package_blocking(
    function: &str,
    runtime: Runtime,
    handler: &str,
    code: &Path,
) -> Result<Packaged, LambdaError> {
    if !code.is_dir() {
        return Err(code_error(
            function,
            runtime,
            format!(
                "CodeUri {} is not a folder; point it at the folder holding the handler",
                code.display()
            ),
        ));
    }
    check_handler(function, runtime, handler, code)?;
    let requirements = code.join("requirements.txt");
    let (Runtime::Python(minor), true) = (runtime, requirements.is_file()) else {
        return Ok(Packaged {
            zip: zip_tree(code)?,
            notice: None,
        });
    };
    // pip writes new files only, so the staged tree links the code instead of copying it.
    let staging = tempfile::tempdir().map_err(|e| LambdaError::io("create a build folder", e))?;
    let build = staging.path().join("build");
    sandbox::link_tree(code, &build)
        .map_err(|e| LambdaError::io("stage the function's code", e))?;
    let notice = python::install_requirements(function, minor, &requirements, &build)?;
    Ok(Packaged {
        zip: zip_tree(&build)?,
        notice,
    })
}

/// The zip CloudFormation makes of inline source: one file, `index.py` or `index.js`.
pub(crate) fn package_inline(
    function: &str,
    runtime: Runtime,
    handler: &str,
    source: &str,
) -> Result<Vec<u8>, LambdaError> {
    let name = match runtime {
        Runtime::Python(_) => "index.py",
        Runtime::Node(_) => "index.js",
        Runtime::Custom => {
            return Err(code_error(
                function,
                runtime,
                "inline code (ZipFile, InlineCode) needs a \
                 python3.x or nodejs runtime; a custom runtime's bootstrap comes from CodeUri"
                    .into(),
            ));
        }
    };
    let staging = tempfile::tempdir().map_err(|e| LambdaError::io("create a build folder", e))?;
    std::fs::write(staging.path().join(name), source)
        .map_err(|e| LambdaError::io("write the inline code", e))?;
    check_handler(function, runtime, handler, staging.path())?;
    if let Some(notice) = runtimes::check_installed(function, runtime)? {
        eprintln!("{notice}");
    }
    zip_tree(staging.path())
}

/// Checks that the handler's module file is in `code` and defines the function, as AWS would
/// find at the first invocation (`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`).
pub(crate) fn check_handler(
    function: &str,
    runtime: Runtime,
    handler: &str,
    code: &Path,
) -> Result<(), LambdaError> {
    let Some((module, name)) = handler.rsplit_once('.') else {
        return Err(code_error(
            function,
            runtime,
            format!("handler {handler:?} must be <module>.<function> (say app.lambda_handler)"),
        ));
    };
    let candidates: Vec<PathBuf> = match runtime {
        Runtime::Custom => return Ok(()),
        Runtime::Python(_) => {
            let module = module.replace('.', "/");
            vec![
                code.join(format!("{module}.py")),
                code.join(&module).join("__init__.py"),
            ]
        }
        Runtime::Node(_) => ["js", "mjs", "cjs"]
            .iter()
            .map(|ext| code.join(format!("{module}.{ext}")))
            .collect(),
    };
    let Some(file) = candidates.iter().find(|c| c.is_file()) else {
        return Err(code_error(
            function,
            runtime,
            format!(
                "handler {handler}: no module file {} in {}; fix Handler or the code's layout",
                candidates[0]
                    .strip_prefix(code)
                    .unwrap_or(&candidates[0])
                    .display(),
                code.display()
            ),
        ));
    };
    let source = std::fs::read_to_string(file).unwrap_or_default();
    if defines(runtime, &source, name) {
        return Ok(());
    }
    Err(code_error(
        function,
        runtime,
        format!(
            "handler {handler}: {} defines no function {name}; fix Handler or define it",
            file.strip_prefix(code).unwrap_or(file).display()
        ),
    ))
}

/// Whether `source` defines `name` at its top level (Python), or names it at all (Node.js,
/// whose exports take many forms). Modules that define names dynamically pass.
fn defines(runtime: Runtime, source: &str, name: &str) -> bool {
    let name = regex::escape(name);
    let pattern = match runtime {
        Runtime::Python(_) => format!(
            r"(?m)^(async\s+def\s+{name}\s*\(|def\s+{name}\s*\(|{name}\s*=|from\s+\S+\s+import\s+.*\b{name}\b|import\s+.*\bas\s+{name}\b|from\s+\S+\s+import\s+\*)|__getattr__"
        ),
        Runtime::Node(_) | Runtime::Custom => format!(r"\b{name}\b"),
    };
    Regex::new(&pattern).is_ok_and(|re| re.is_match(source))
}

fn code_error(function: &str, runtime: Runtime, reason: String) -> LambdaError {
    LambdaError::Runtime {
        function: function.to_owned(),
        runtime: match runtime {
            Runtime::Custom => "provided".to_owned(),
            Runtime::Python(minor) => format!("python3.{minor}"),
            Runtime::Node(major) => format!("nodejs{major}.x"),
        },
        reason,
    }
}

/// Zips a folder's files (paths relative to it, modes kept).
fn zip_tree(root: &Path) -> Result<Vec<u8>, LambdaError> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    add_to_zip(&mut writer, root, root)
        .map_err(|e| LambdaError::io("zip the function's code", std::io::Error::other(e)))?;
    let cursor = writer
        .finish()
        .map_err(|e| LambdaError::io("zip the function's code", std::io::Error::other(e)))?;
    Ok(cursor.into_inner())
}

fn add_to_zip(
    writer: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>,
    root: &Path,
    dir: &Path,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let relative = path.strip_prefix(root)?.to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            add_to_zip(writer, root, &path)?;
            continue;
        }
        let mode = entry.metadata()?.permissions().mode();
        let options = zip::write::SimpleFileOptions::default().unix_permissions(mode & 0o777);
        writer.start_file(relative, options)?;
        writer.write_all(&std::fs::read(&path)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_handler_in_a_folder_of_the_code_is_found() {
        let code = folder(&[(
            "src/app.py",
            "def lambda_handler(event, context):\n    return 1\n",
        )]);
        check_handler(
            "f",
            Runtime::Python(12),
            "src/app.lambda_handler",
            code.path(),
        )
        .unwrap();
        check_handler(
            "f",
            Runtime::Python(12),
            "src.app.lambda_handler",
            code.path(),
        )
        .unwrap();
    }

    #[test]
    fn a_missing_module_or_function_is_named_with_the_fix() {
        let code = folder(&[("app.py", "def handler(event, context):\n    return 1\n")]);
        let error = check_handler("f", Runtime::Python(12), "main.handler", code.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("main.py") && error.contains("fix Handler"),
            "{error}"
        );
        let error = check_handler("f", Runtime::Python(12), "app.lambda_handler", code.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("no function lambda_handler"), "{error}");
        let node = folder(&[("index.mjs", "export const handler = async () => 1;\n")]);
        check_handler("f", Runtime::Node(20), "index.handler", node.path()).unwrap();
        assert!(check_handler("f", Runtime::Node(20), "index.main", node.path()).is_err());
    }

    #[test]
    fn inline_code_becomes_index_py_or_index_js() {
        let zip = package_inline(
            "f",
            Runtime::Python(12),
            "index.handler",
            "def handler(e, c): pass",
        )
        .unwrap();
        let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.file_names().collect::<Vec<_>>(), ["index.py"]);
        let zip = package_inline(
            "f",
            Runtime::Node(20),
            "index.handler",
            "exports.handler = 1",
        )
        .unwrap();
        let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.file_names().collect::<Vec<_>>(), ["index.js"]);
    }
}
