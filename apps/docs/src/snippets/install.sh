# 1. In a checkout of the lopt repository: install, build, and pack each package.
npx -y pnpm@10.34.8 install
npx -y pnpm@10.34.8 turbo run build --filter='./packages/*'
tarballs="$(pwd)/../lopt-tarballs"
mkdir -p "$tarballs"
for dir in packages/*/; do (cd "$dir" && npx -y pnpm@10.34.8 pack --pack-destination "$tarballs"); done

# 2. In your own project: install the tarballs, their peer TensorFlow.js, and tsx.
mkdir -p ../my-app && cd ../my-app
npm init -y && npm pkg set type=module
npm install "$tarballs"/lopt-*.tgz @tensorflow/tfjs-core@4.22.0 tsx
